"""AES-256-GCM payload codec: Temporal history (inputs, results, queries, details) holds ciphertext only.

The codec holds a keyring: new payloads are sealed with the active (first) key, and any payload
whose key id is in the ring opens, so after a rotation old histories stay readable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
_NONCE = 12


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload; the key id (a hash prefix, never the key) travels in the metadata.

    `key` is one key or a keyring (active first, then older keys kept for reading).
    """

    def __init__(self, key: bytes | Sequence[bytes]) -> None:
        keys = [key] if isinstance(key, bytes) else list(key)
        if not keys or any(len(k) != 32 for k in keys):
            raise ValueError("codec key must be 32 bytes (AES-256)")
        self._ring = {hashlib.sha256(k).hexdigest()[:16].encode(): AESGCM(k) for k in keys}
        self.key_id = hashlib.sha256(keys[0]).hexdigest()[:16].encode()
        self._aead = self._ring[self.key_id]

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE)
        data = nonce + self._aead.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id}, data=data)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get("encryption-key-id", b"")
        aead = self._ring.get(key_id)
        if aead is None:
            raise ValueError(f"payload encrypted with unknown key id {key_id!r}")
        data = payload.data
        plain = aead.decrypt(data[:_NONCE], data[_NONCE:], None)
        out = Payload()
        out.ParseFromString(plain)
        return out
