"""Master keys: the interface a KMS could implement, and the file / environment-variable keyring.

Only data keys are ever wrapped by a master key (envelope encryption), so a KMS implementation
needs exactly `active_id`, `wrap` and `unwrap`. The local keyring is a JSON file
`{"active": "<id>", "keys": {"<id>": "<hex 32 bytes>"}}` (0600) or, for containers, the
environment variable CODERUNNER_MASTER_KEY (`<id>:<hex>` or bare hex; several separated by commas,
the first active).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _random
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coderunner.config.home import write_private

ENV_KEY = "CODERUNNER_MASTER_KEY"
ENV_FILE = "CODERUNNER_MASTER_KEY_FILE"
KEY_FILE_NAME = "master.keys"
_NONCE = 12


class MasterKeyError(RuntimeError):
    """A master key is missing, malformed or wrong; the message names which and where it was looked for."""


class MasterKeys(Protocol):
    """What the config service needs from a key manager (a KMS implements these three)."""

    def active_id(self) -> str: ...

    def wrap(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes: ...


def key_id_for(key: bytes) -> str:
    """A stable id from the key (a hash prefix, never the key)."""
    return "mk-" + hashlib.sha256(b"coderunner-master-key-id" + key).hexdigest()[:12]


def _parse_hex(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise MasterKeyError(f"{where}: master key is not hex (expected 64 hex characters)") from None
    if len(key) != 32:
        raise MasterKeyError(f"{where}: master key has {len(key)} bytes; AES-256 needs 32 (64 hex chars)")
    return key


class LocalKeyring:
    """Master keys held in memory, loaded from a file or an environment variable."""

    def __init__(self, keys: dict[str, bytes], active: str, source: str, path: Path | None = None) -> None:
        if active not in keys:
            raise MasterKeyError(f"{source}: active master key {active!r} is not among its keys")
        self.keys = keys
        self.active = active
        self.source = source
        self.path = path

    # -- loading -----------------------------------------------------------------------------------

    @classmethod
    def load(cls, home: Path, *, create: bool = False) -> LocalKeyring:
        """$CODERUNNER_MASTER_KEY, else the file $CODERUNNER_MASTER_KEY_FILE or <home>/master.keys.

        `create` makes a fresh file only where none exists (the first write of a new store).
        """
        raw = os.environ.get(ENV_KEY)
        if raw:
            return cls.from_env(raw)
        path = Path(os.environ.get(ENV_FILE) or home / KEY_FILE_NAME)
        if not path.exists():
            if not create:
                raise MasterKeyError(
                    f"master key missing: no {ENV_KEY} and no key file at {path} "
                    f"(set {ENV_KEY}/{ENV_FILE}, or restore the file)"
                )
            key = _random.token_bytes(32)
            ring = cls({key_id_for(key): key}, key_id_for(key), str(path), path)
            ring.save()
            return ring
        return cls.from_file(path)

    @classmethod
    def from_env(cls, raw: str) -> LocalKeyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in raw.split(","):
            kid, _, hexkey = part.strip().rpartition(":")
            key = _parse_hex(hexkey, ENV_KEY)
            kid = kid or key_id_for(key)
            keys[kid] = key
            order.append(kid)
        return cls(keys, order[0], ENV_KEY)

    @classmethod
    def from_file(cls, path: Path) -> LocalKeyring:
        try:
            data = json.loads(path.read_text())
            keys = {kid: _parse_hex(h, f"{path} key {kid}") for kid, h in data["keys"].items()}
            return cls(keys, data["active"], str(path), path)
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
            raise MasterKeyError(
                f'{path}: not a master key file ({err!r}); expected {{"active": id, "keys": {{id: hex}}}}'
            ) from None

    def save(self) -> None:
        if self.path is None:
            raise MasterKeyError(
                f"{self.source}: keys from the environment cannot be changed here; "
                f"rotate by setting {ENV_KEY}=new,old then re-running rotate-key"
            )
        body = {"active": self.active, "keys": {k: v.hex() for k, v in self.keys.items()}}
        tmp = self.path.with_suffix(".tmp")
        write_private(tmp, json.dumps(body, indent=2).encode())
        os.replace(tmp, self.path)

    # -- rotation ----------------------------------------------------------------------------------

    def add_active(self) -> str:
        """A new key becomes active; the old ones stay until nothing references them."""
        key = _random.token_bytes(32)
        kid = key_id_for(key)
        self.keys[kid] = key
        self.active = kid
        self.save()
        return kid

    def retire(self, key_ids: set[str]) -> list[str]:
        gone = sorted(k for k in key_ids if k in self.keys and k != self.active)
        for kid in gone:
            del self.keys[kid]
        if gone:
            self.save()
        return gone

    # -- MasterKeys --------------------------------------------------------------------------------

    def active_id(self) -> str:
        return self.active

    def wrap(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        nonce = _random.token_bytes(_NONCE)
        return self.active, nonce + AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        key = self.keys.get(key_id)
        if key is None and self.path is not None and self.path.exists():
            # another process rotated: pick up the new key from the file (no restart, no downtime)
            fresh = LocalKeyring.from_file(self.path)
            self.keys, self.active = fresh.keys, fresh.active
            key = self.keys.get(key_id)
        if key is None:
            raise MasterKeyError(
                f"master key {key_id} missing from {self.source} (it holds {sorted(self.keys)}): "
                "restore that key or point CODERUNNER_MASTER_KEY_FILE at the keyring that has it"
            )
        try:
            return AESGCM(key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], context)
        except InvalidTag:
            raise MasterKeyError(
                f"master key {key_id} from {self.source} does not open a data key: "
                "wrong key, or the wrapped key was altered"
            ) from None
