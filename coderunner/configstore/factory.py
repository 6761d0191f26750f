"""Open the config service the same way in the CLI, the SDK and the worker.

The master key is created only for a brand-new store (no data key exists yet); once anything is
encrypted, a missing key is an error that names where it was looked for, never a silent new key
that would make every existing secret unreadable.
"""

from __future__ import annotations

from pathlib import Path

from coderunner.configstore.datakeys import DataKeys
from coderunner.configstore.keyring import LocalKeyring
from coderunner.configstore.service import ConfigService, ensure_tables
from coderunner.store.engine import make_engine


def open_keyring(home: Path, database_url: str | None = None) -> LocalKeyring:
    engine = make_engine(database_url)
    ensure_tables(engine)
    fresh = DataKeys(engine, NoKeys(), None).is_empty()
    return LocalKeyring.load(home, create=fresh)


def open_service(home: Path, database_url: str | None = None) -> tuple[ConfigService, LocalKeyring]:
    keyring = open_keyring(home, database_url)
    return ConfigService(make_engine(database_url), keyring), keyring


class NoKeys:
    """Stand-in master key for a DataKeys used only to ask whether any data key exists."""

    def active_id(self) -> str:
        raise NotImplementedError

    def wrap(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        raise NotImplementedError

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        raise NotImplementedError
