"""Envelope encryption of config secrets: AES-256-GCM under a data key, data keys under a master key.

Every value gets a fresh 96-bit nonce, and associated data that binds it to its project,
environment, key and version: a ciphertext copied to another key, environment or version does not
decrypt. A ciphertext names its data key (`cr1:<data key id>:<base64 nonce||ct||tag>`); the data
key's row names the master key that wraps it, so rotation re-wraps data keys and never touches a
value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "cr1"
_NONCE = 12
AUDIT_KEY_ID = "audit-hmac"


class TamperedCiphertext(ValueError):
    """A ciphertext failed authentication: altered, or moved to another key/environment/version."""


def data_key_id(project: str, environment: str) -> str:
    return f"dk:{project}:{environment}"


def wrap_context(key_id: str) -> bytes:
    """Associated data of a wrapped data key: a wrapped key moved to another id does not unwrap."""
    return b"coderunner-data-key\x00" + key_id.encode()


def value_aad(project: str, environment: str, key: str, version: int) -> bytes:
    return "\x00".join(["coderunner-config", project, environment, key, str(version)]).encode()


def new_data_key() -> bytes:
    return _random.token_bytes(32)


def encrypt_value(data_key: bytes, key_id: str, plaintext: str, aad: bytes) -> str:
    nonce = _random.token_bytes(_NONCE)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad)
    return f"{PREFIX}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def ciphertext_key_id(ciphertext: str) -> str:
    prefix, _, rest = ciphertext.partition(":")
    key_id, _, _ = rest.rpartition(":")
    if prefix != PREFIX or not key_id:
        raise TamperedCiphertext("not a CodeRunner ciphertext (expected cr1:<key id>:<data>)")
    return key_id


def decrypt_value(data_key: bytes, ciphertext: str, aad: bytes, where: str) -> str:
    """Plaintext, or TamperedCiphertext naming `where` (project/environment/key@version)."""
    try:
        blob = base64.b64decode(ciphertext.rpartition(":")[2], validate=True)
        return AESGCM(data_key).decrypt(blob[:_NONCE], blob[_NONCE:], aad).decode()
    except (InvalidTag, ValueError) as err:
        raise TamperedCiphertext(f"{where}: ciphertext fails authentication (altered or moved)") from err


def keyed_hash(audit_key: bytes, value: str) -> str:
    """HMAC-SHA256 of a value: answers "did it change" without being reversible by a dictionary
    unless the attacker also holds the audit key (itself wrapped by the master key)."""
    return "hmac-sha256:" + hmac.new(audit_key, value.encode(), hashlib.sha256).hexdigest()[:48]
