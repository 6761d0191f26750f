"""Values in and out of the database: secrets sealed under their environment's data key, every value
hashed with the audit key (the audit log holds those hashes, never values).

A secret's ciphertext is bound to (project, environment, key, version) as associated data, so a row
copied to another key or version fails to open instead of leaking under a new name.
"""

from __future__ import annotations

from collections.abc import Sequence

from coderunner.configstore.crypto import (
    AUDIT_KEY_ID,
    data_key_id,
    decrypt_value,
    encrypt_value,
    keyed_hash,
    value_aad,
)
from coderunner.configstore.datakeys import DataKeys
from coderunner.configstore.errors import ConfigNotFound
from coderunner.configstore.tables import ConfigValue
from coderunner.models.configstore import ConfigEntry


class Sealer:
    def __init__(self, keys: DataKeys) -> None:
        self.keys = keys

    def audit_key(self) -> bytes:
        key = self.keys.get(AUDIT_KEY_ID, create=True)
        assert key is not None
        return key

    def hash(self, entry: ConfigEntry) -> str:
        return keyed_hash(self.audit_key(), entry.value or "")

    def seal(
        self, project: str, environment: str, version: int, entries: Sequence[ConfigEntry]
    ) -> tuple[list[dict], dict[str, str]]:
        """Rows to insert (secrets encrypted for this version) and the keyed hash of each value."""
        audit_key = self.audit_key()
        data_key = None
        rows, hashes = [], {}
        for entry in entries:
            value = entry.value or ""
            hashes[entry.key] = keyed_hash(audit_key, value)
            row = {
                "project": project,
                "environment": environment,
                "version": version,
                "key": entry.key,
                "secret": entry.secret,
                "description": entry.description,
                "value": None,
                "ciphertext": None,
                "value_hash": hashes[entry.key],
            }
            if entry.secret:
                kid = data_key_id(project, environment)
                data_key = data_key or self.keys.get(kid, create=True)
                assert data_key is not None
                row["ciphertext"] = encrypt_value(
                    data_key, kid, value, value_aad(project, environment, entry.key, version)
                )
            else:
                row["value"] = value
            rows.append(row)
        return rows, hashes

    def entries(self, rows: Sequence[ConfigValue], reveal: bool) -> list[ConfigEntry]:
        """Entries of one version's rows; secrets decrypted when `reveal` (the data key read once)."""
        keys: dict[str, bytes | None] = {}
        entries = []
        for row in rows:
            value: str | None = row.value
            if row.secret:
                value = self._open(row, keys) if reveal else None
            entries.append(
                ConfigEntry(key=row.key, value=value, secret=row.secret, description=row.description)
            )
        return entries

    def _open(self, row: ConfigValue, keys: dict[str, bytes | None]) -> str:
        assert row.ciphertext is not None
        kid = data_key_id(row.project, row.environment)
        if kid not in keys:
            keys[kid] = self.keys.get(kid, create=False)
        data_key = keys[kid]
        where = f"{row.project}/{row.environment}/{row.key}@v{row.version}"
        if data_key is None:
            raise ConfigNotFound(f"{where}: its data key {kid} is missing from the database")
        return decrypt_value(
            data_key, row.ciphertext, value_aad(row.project, row.environment, row.key, row.version), where
        )
