"""Where the stack's pieces are: from environment variables, else from the stack.json `up` wrote.

Environment variables win so the same worker image runs embedded and in docker-compose.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

from coderunner.config.home import (
    HomeLayout,
    home_dir,
    read_or_create_key,
    read_or_create_keys,
    read_or_create_token,
)

TASK_QUEUE = "coderunner"


class StackNotRunning(RuntimeError):
    """Raised when nothing says where the stack is; the message tells the user what to run."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("stack not running — run `coderunner up`" + (f" ({detail})" if detail else ""))


class Settings(BaseModel):
    home: Path
    temporal_address: str
    namespace: str = "default"
    task_queue: str = TASK_QUEUE
    sandbox_url: str
    database_url: str | None = None
    metrics_port: int | None = None
    metrics_bind: str = "127.0.0.1"  # CODERUNNER_METRICS_BIND; 0.0.0.0 only inside a private network
    ui_url: str | None = None
    releases_dir: Path | None = None  # CODERUNNER_RELEASES_DIR: pipeline releases, shared with the host

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home)

    def sandbox_token(self) -> str:
        return read_or_create_token(self.layout.sandbox_token)

    def codec_key(self) -> bytes:
        return read_or_create_key(self.layout.codec_key)

    def codec_keys(self) -> list[bytes]:
        """The codec keyring: the active key first, older ones to read old histories."""
        return read_or_create_keys(self.layout.codec_key)

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.layout.app_db}"


def read_stack_file(home: Path) -> dict | None:
    path = HomeLayout(home).stack_file
    if not path.exists():
        return None
    return json.loads(path.read_text())


def load_settings(home: str | os.PathLike[str] | None = None) -> Settings:
    root = home_dir(home)
    stack = read_stack_file(root) or {}
    env = os.environ
    temporal = env.get("CODERUNNER_TEMPORAL_ADDRESS") or stack.get("temporal_address")
    sandbox = env.get("CODERUNNER_SANDBOX_URL") or stack.get("sandbox_url")
    if not temporal or not sandbox:
        raise StackNotRunning(f"no {HomeLayout(root).stack_file} and no CODERUNNER_TEMPORAL_ADDRESS")
    metrics = env.get("CODERUNNER_METRICS_PORT") or stack.get("metrics_port")
    return Settings(
        home=root,
        temporal_address=temporal,
        namespace=env.get("CODERUNNER_NAMESPACE", "default"),
        task_queue=env.get("CODERUNNER_TASK_QUEUE", TASK_QUEUE),
        sandbox_url=sandbox,
        database_url=env.get("CODERUNNER_DATABASE_URL") or stack.get("database_url"),
        metrics_port=int(metrics) if metrics else None,
        metrics_bind=env.get("CODERUNNER_METRICS_BIND", "127.0.0.1"),
        ui_url=stack.get("ui_url"),
        releases_dir=Path(env["CODERUNNER_RELEASES_DIR"]) if env.get("CODERUNNER_RELEASES_DIR") else None,
    )
