"""Config and secrets from Python: the same calls `coderunner config …` makes.

from starter.sdk.configs import Configs
cfg = Configs.open()                                        # the app DB + master key of the stack
cfg.set("shop", "production", {"LOG_LEVEL": "debug"}, reason="investigate")
cfg.set_secret("shop", "production", "API_KEY", value)     # a value from a file or stdin, never argv
cfg.snapshot("shop", "production").masked()

Errors are the SDK's: UserError (bad input, nothing changed: exit 2) and OperationError (a missing
master key, a tampered value, a lost check-and-set race: exit 1). Messages never carry a value.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from coderunner.config.home import HomeLayout, add_active_key, home_dir
from coderunner.config.settings import read_stack_file
from coderunner.configstore.crypto import TamperedCiphertext
from coderunner.configstore.errors import ConfigInputError, VersionConflict
from coderunner.configstore.factory import open_service
from coderunner.configstore.formats import Format, ImportError_, export, parse
from coderunner.configstore.keyring import LocalKeyring, MasterKeyError
from coderunner.configstore.service import ConfigService
from coderunner.configstore.templates import TEMPLATES
from coderunner.models.configstore import (
    AuditEntry,
    AuditReport,
    ConfigChange,
    ConfigEntry,
    ConfigSnapshot,
    DiffLine,
    VersionInfo,
)
from starter.sdk.errors import OperationError, UserError

T = TypeVar("T")


def validation_message(err: ValidationError, what: str) -> str:
    """Field and reason only: pydantic's own text quotes the input, which may be a secret."""
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "value"
        if e["type"] == "string_pattern_mismatch" and field == "key":
            lines.append(
                f"{what}: {e['input']!r} is not a valid key (letters, digits and '_', not starting "
                "with a digit, max 128)"
            )
        else:
            lines.append(f"{what} {field}: {e['msg']}")
    return "; ".join(lines)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (ConfigInputError, ImportError_) as err:
        raise UserError(str(err)) from None
    except KeyError as err:
        raise UserError(f"KEY: {err.args[0]!r} is not set, nothing to unset") from None
    except (MasterKeyError, TamperedCiphertext, VersionConflict) as err:
        raise OperationError(str(err)) from None


def default_actor() -> str:
    return f"cli:{getpass.getuser()}"


class Configs:
    def __init__(self, service: ConfigService, ring: LocalKeyring, home: Path, actor: str) -> None:
        self.service = service
        self.ring = ring
        self.home = home
        self.actor = actor

    @classmethod
    def open(
        cls, home: str | None = None, actor: str | None = None, database_url: str | None = None
    ) -> Configs:
        """The app database the stack uses ($CODERUNNER_DATABASE_URL, stack.json, or the SQLite file)."""
        root = home_dir(home)
        stack = read_stack_file(root) or {}
        url = database_url or (
            os.environ.get("CODERUNNER_DATABASE_URL")
            or stack.get("database_url")
            or f"sqlite:///{HomeLayout(root).app_db}"
        )
        with _translated():
            service, ring = open_service(root, url)
        return cls(service, ring, root, actor or default_actor())

    def _run(self, fn: Callable[[], T]) -> T:
        with _translated():
            return fn()

    # ---- writes ----------------------------------------------------------------------------------

    def changes(
        self, values: Mapping[str, str], secret: bool = False, description: str | None = None
    ) -> list[ConfigChange]:
        try:
            return [
                ConfigChange(key=k, value=v, secret=secret, description=description)
                for k, v in values.items()
            ]
        except ValidationError as err:
            raise UserError(validation_message(err, "KEY")) from None

    def set(
        self,
        project: str,
        env: str,
        values: Mapping[str, str],
        reason: str = "",
        secret: bool = False,
        description: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        changes = self.changes(values, secret, description)
        return self._run(
            lambda: self.service.write(project, env, changes, self.actor, reason, expected_version)
        )

    def set_secret(
        self,
        project: str,
        env: str,
        key: str,
        value: str,
        reason: str = "",
        description: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        return self.set(project, env, {key: value}, reason, True, description, expected_version)

    def unset(
        self, project: str, env: str, keys: list[str], reason: str = "", expected_version: int | None = None
    ) -> int:
        try:
            changes = [ConfigChange(key=k, remove=True) for k in keys]
        except ValidationError as err:
            raise UserError(validation_message(err, "KEY")) from None
        return self._run(
            lambda: self.service.write(project, env, changes, self.actor, reason, expected_version)
        )

    def rollback(self, project: str, env: str, to: int, reason: str = "") -> int:
        return self._run(lambda: self.service.rollback(project, env, to, self.actor, reason))

    def add_environment(self, project: str, env: str, reason: str = "") -> None:
        def go() -> None:
            self.service.ensure_project(project, self.actor)
            self.service.add_environment(project, env, self.actor, reason)

        self._run(go)

    def import_text(self, project: str, env: str, text: str, fmt: Format, reason: str = "") -> int:
        """Validate the whole file, then write it as one version (the environment becomes exactly it)."""
        return self._run(lambda: self.service.replace(project, env, parse(text, fmt), self.actor, reason))

    def apply_template(
        self, project: str, env: str, name: str, overwrite: bool = False, reason: str = ""
    ) -> tuple[int, list[str]]:
        if name not in TEMPLATES:
            raise UserError(f"NAME: unknown template {name!r} (known: {', '.join(TEMPLATES)})")

        def go() -> tuple[int, list[str]]:
            self.service.ensure_project(project, self.actor)
            present = {e.key for e in self.service.snapshot(project, env).entries}
            entries = [e for e in TEMPLATES[name][1] if overwrite or e.key not in present]
            if not entries:
                return self.service.head(project, env), []
            changes = [
                ConfigChange(key=e.key, value=e.value, secret=e.secret, description=e.description)
                for e in entries
            ]
            version = self.service.write(project, env, changes, self.actor, reason or f"template {name}")
            return version, [e.key for e in entries]

        return self._run(go)

    def rotate_master_key(self, reason: str = "") -> tuple[int, list[str]]:
        return self._run(
            lambda: self.service.rotate_master_key(self.ring.add_active, self.ring.retire, self.actor, reason)
        )

    def rotate_codec_key(self) -> str:
        """A new active payload-codec key; older ones stay so every history still decodes."""
        add_active_key(HomeLayout(self.home).codec_key)
        return "new codec key active; restart the worker and codec server to seal with it"

    # ---- reads -----------------------------------------------------------------------------------

    def snapshot(self, project: str, env: str, version: int | None = None) -> ConfigSnapshot:
        """Secrets masked."""
        return self._run(lambda: self.service.snapshot(project, env, version))

    def reveal(
        self, project: str, env: str, key: str, reason: str = "", version: int | None = None
    ) -> ConfigEntry:
        return self._run(lambda: self.service.reveal(project, env, key, self.actor, reason, version))

    def export_text(
        self,
        project: str,
        env: str,
        fmt: Format,
        reveal: bool = False,
        version: int | None = None,
        reason: str = "",
    ) -> str:
        def go() -> str:
            snap = self.service.snapshot(project, env, version, reveal=reveal)
            if reveal:
                for entry in snap.entries:
                    if entry.secret:
                        self.service.reveal(
                            project, env, entry.key, self.actor, reason or "export --reveal", snap.version
                        )
            return export(snap, fmt)

        return self._run(go)

    def history(self, project: str, env: str) -> list[VersionInfo]:
        return self._run(lambda: self.service.history(project, env))

    def diff(
        self, project: str, env: str, a: int | None, other_env: str | None, b: int | None
    ) -> list[DiffLine]:
        return self._run(lambda: self.service.diff(project, env, a, other_env or env, b))

    def environments(self, project: str) -> dict[str, int]:
        return self._run(lambda: self.service.environments(project))

    def audit(self, project: str | None = None, env: str | None = None, limit: int = 50) -> list[AuditEntry]:
        return self._run(lambda: self.service.audit_log(project, env, limit))

    def verify_audit(self) -> AuditReport:
        return self._run(self.service.verify_audit)
