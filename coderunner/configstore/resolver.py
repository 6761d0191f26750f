"""The worker's side of injection: ConfigRef -> decrypted values, for the activity that starts an
instance and for a pipeline agent that needs an endpoint and its key (coderunner/agents).

Opened lazily, so a worker whose deployments use no config never needs the master key; a missing
key or an unknown reference surfaces as a clear, non-secret error on the instance.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from coderunner.configstore.datakeys import DataKeys
from coderunner.configstore.factory import NoKeys
from coderunner.configstore.keyring import LocalKeyring
from coderunner.configstore.service import ConfigService, ensure_tables
from coderunner.models.configstore import ConfigRef


class ConfigResolver:
    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home
        self._service: ConfigService | None = None
        self._lock = threading.Lock()

    def service(self) -> ConfigService:
        with self._lock:
            if self._service is None:
                ensure_tables(self.engine)
                fresh = DataKeys(self.engine, NoKeys(), None).is_empty()
                self._service = ConfigService(self.engine, LocalKeyring.load(self.home, create=fresh))
            return self._service

    def resolve(self, ref: ConfigRef) -> dict[str, str]:
        return self.service().resolve(ref)

    def resolve_latest(self, ref: ConfigRef) -> dict[str, str]:
        """The values of `ref`'s version, or of its environment's latest version when it has none."""
        if ref.version is None:
            ref = ref.model_copy(update={"version": self.service().head(ref.project, ref.environment)})
        return self.resolve(ref)
