"""AES-256-GCM payload codec: Temporal history (inputs, results, queries, details) holds ciphertext only."""

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
    """Encrypts every payload; the key id (a hash prefix, never the key) travels in the metadata."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("codec key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16].encode()

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
        key_id = payload.metadata.get("encryption-key-id")
        if key_id != self.key_id:
            raise ValueError(f"payload encrypted with unknown key id {key_id!r}")
        data = payload.data
        plain = self._aead.decrypt(data[:_NONCE], data[_NONCE:], None)
        out = Payload()
        out.ParseFromString(plain)
        return out
