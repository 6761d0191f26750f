"""AES-256-GCM payload codec: Temporal history (inputs, results, queries, details) holds ciphertext only.

The codec holds a keyring: new payloads are sealed with the active (first) key, and any payload
whose key id is in the ring opens, so after a rotation old histories stay readable.

Decoding refuses any payload that is not `binary/encrypted`: whoever can reach Temporal could otherwise
start a deployment with an arbitrary command in plaintext. Only holders of the key can make a payload
the worker accepts. For a migration from an unencrypted set-up, `CODERUNNER_ACCEPT_PLAINTEXT=1` lets
plaintext through again (logged loudly, once per process); unset it once old workflows have finished.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
_NONCE = 12
ACCEPT_PLAINTEXT_ENV = "CODERUNNER_ACCEPT_PLAINTEXT"
log = logging.getLogger("coderunner.codec")


class PlaintextPayloadRefused(ValueError):
    """An unencrypted payload reached a decoder that only accepts ciphertext."""


def plaintext_allowed_by_env() -> bool:
    return os.environ.get(ACCEPT_PLAINTEXT_ENV, "").lower() in ("1", "true", "yes")


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload; the key id (a hash prefix, never the key) travels in the metadata.

    `key` is one key or a keyring (active first, then older keys kept for reading).
    """

    def __init__(self, key: bytes | Sequence[bytes], accept_plaintext: bool | None = None) -> None:
        """`accept_plaintext=None` follows $CODERUNNER_ACCEPT_PLAINTEXT (the migration escape hatch)."""
        keys = [key] if isinstance(key, bytes) else list(key)
        if not keys or any(len(k) != 32 for k in keys):
            raise ValueError("codec key must be 32 bytes (AES-256)")
        self._ring = {hashlib.sha256(k).hexdigest()[:16].encode(): AESGCM(k) for k in keys}
        self.key_id = hashlib.sha256(keys[0]).hexdigest()[:16].encode()
        self._aead = self._ring[self.key_id]
        self.accept_plaintext = plaintext_allowed_by_env() if accept_plaintext is None else accept_plaintext
        if self.accept_plaintext and accept_plaintext is None:
            log.warning("%s is set: UNENCRYPTED payloads are accepted; unset it after the migration",
                        ACCEPT_PLAINTEXT_ENV)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE)
        data = nonce + self._aead.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id}, data=data)

    def decrypt(self, payload: Payload) -> Payload:
        encoding = payload.metadata.get("encoding")
        if encoding != ENCODING:
            if self.accept_plaintext:
                return payload
            shown = encoding.decode(errors="replace")[:40] if encoding else "none"
            raise PlaintextPayloadRefused(
                f"refusing an unencrypted payload (encoding {shown!r}): send it through the CodeRunner "
                f"client or `temporal --codec-endpoint`; to migrate old workflows set "
                f"{ACCEPT_PLAINTEXT_ENV}=1"
            )
        key_id = payload.metadata.get("encryption-key-id", b"")
        aead = self._ring.get(key_id)
        if aead is None:
            raise ValueError(f"payload encrypted with unknown key id {key_id!r}")
        data = payload.data
        plain = aead.decrypt(data[:_NONCE], data[_NONCE:], None)
        out = Payload()
        out.ParseFromString(plain)
        return out
