"""Data keys: created once per project/environment (and one for audit hashes), unwrapped on use,
re-wrapped under a new master key by `rotate-key`.

Rotation is online: a reader unwraps with whichever master key the row names, and the keyring holds
both keys until every row has moved, so there is no moment when a value cannot be read. Each row is
re-wrapped with a compare-and-set on its old wrapped bytes, so a concurrent rotation never loses one.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coderunner.configstore.crypto import new_data_key, wrap_context
from coderunner.configstore.keyring import MasterKeys
from coderunner.configstore.tables import ConfigDataKey
from coderunner.store.tables import utcnow


class DataKeys:
    def __init__(self, engine: Engine, master: MasterKeys, insert: Any) -> None:
        self.engine = engine
        self.master = master
        self._insert = insert
        self._cache: dict[tuple[str, str], bytes] = {}  # (id, wrapped) -> key: a re-wrap invalidates

    def get(self, key_id: str, *, create: bool) -> bytes | None:
        """The plaintext data key `key_id`; created (race-safe) when `create` and absent."""
        row = self._row(key_id)
        if row is None:
            if not create:
                return None
            master_id, wrapped = self.master.wrap(new_data_key(), wrap_context(key_id))
            stmt = (
                self._insert(ConfigDataKey)
                .values(
                    id=key_id,
                    master_key_id=master_id,
                    wrapped=base64.b64encode(wrapped).decode(),
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
            with self.engine.begin() as conn:
                conn.execute(stmt)
            row = self._row(key_id)  # whoever won the race, everybody uses the stored one
            assert row is not None
        cached = self._cache.get((row.id, row.wrapped))
        if cached is None:
            cached = self.master.unwrap(
                row.master_key_id, base64.b64decode(row.wrapped), wrap_context(row.id)
            )
            self._cache[(row.id, row.wrapped)] = cached
        return cached

    def _row(self, key_id: str) -> ConfigDataKey | None:
        with Session(self.engine) as session:
            return session.get(ConfigDataKey, key_id)

    def all(self) -> list[ConfigDataKey]:
        with Session(self.engine) as session:
            return list(session.exec(select(ConfigDataKey).order_by(col(ConfigDataKey.id))).all())

    def referenced_master_ids(self) -> set[str]:
        return {row.master_key_id for row in self.all()}

    def rewrap_all(self) -> int:
        """Re-wrap every data key not yet under the active master key; returns how many moved."""
        moved = 0
        target = self.master.active_id()
        for row in self.all():
            if row.master_key_id == target:
                continue
            plain = self.master.unwrap(row.master_key_id, base64.b64decode(row.wrapped), wrap_context(row.id))
            master_id, wrapped = self.master.wrap(plain, wrap_context(row.id))
            stmt = (
                update(ConfigDataKey)
                .where(col(ConfigDataKey.id) == row.id, col(ConfigDataKey.wrapped) == row.wrapped)
                .values(master_key_id=master_id, wrapped=base64.b64encode(wrapped).decode())
            )
            with self.engine.begin() as conn:
                moved += conn.execute(stmt).rowcount
        return moved

    def is_empty(self) -> bool:
        with Session(self.engine) as session:
            return session.exec(select(ConfigDataKey.id).limit(1)).first() is None
