"""The state directory (CODERUNNER_HOME): one place for every file the stack owns.

Keeping pid files, logs, keys and the chosen ports under one directory is what lets `down` + `up`
resume where it stopped and lets several stacks (e.g. one per test session) live side by side.
It holds keys, tokens and databases, so it is private: directories 0700, files 0600. `ensure_home`
also sets the process umask to 077, so whatever the stack's processes (and their children: the
Temporal dev server's SQLite file, the worker's database) create there is private from the start.
"""

from __future__ import annotations

import os
import secrets as _secrets
import threading
from pathlib import Path
from typing import BinaryIO

DEFAULT_HOME = ".coderunner"
PRIVATE_UMASK = 0o077


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the state directory: explicit argument, then $CODERUNNER_HOME, then ./.coderunner."""
    raw = explicit or os.environ.get("CODERUNNER_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def private_umask() -> None:
    """Files this process (and its children) creates are 0600, directories 0700."""
    os.umask(PRIVATE_UMASK)


def ensure_home(home: Path) -> Path:
    """Create the state dir and its logs dir 0700 (tightening existing ones) under a private umask."""
    private_umask()
    for directory in (home, home / "logs"):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    return home


def open_private_log(path: Path) -> BinaryIO:
    """Append to a log file that only its owner can read, even if an older run left it 0644."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (keys and tokens), created 0600 from the start, and
    replace the old one whole: written beside it, then renamed over it, so a reader (the CLI reading
    stack.json while the supervisor rewrites it) sees the old content or the new, never an empty or
    half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:  # writes it all (os.write may write part)
            out.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_or_create_token(path: Path) -> str:
    """A bearer token shared by a server and its clients through the state dir."""
    if path.exists():
        return path.read_text().strip()
    token = _secrets.token_urlsafe(32)
    write_private(path, token.encode())
    return token


def read_or_create_keys(path: Path) -> list[bytes]:
    """A keyring of 256-bit AES keys, one hex key per line, the active one first; generated once
    per state dir and kept 0600. Older keys stay so what they sealed can still be opened."""
    if path.exists():
        return [bytes.fromhex(line) for line in path.read_text().split() if line]
    key = _secrets.token_bytes(32)
    write_private(path, key.hex().encode())
    return [key]


def read_or_create_key(path: Path) -> bytes:
    """The active key of the keyring at `path`."""
    return read_or_create_keys(path)[0]


def add_active_key(path: Path) -> bytes:
    """Rotate: a new key becomes active; the old ones are kept (for reading) after it."""
    key = _secrets.token_bytes(32)
    keys = [key, *read_or_create_keys(path)]
    write_private(path, "\n".join(k.hex() for k in keys).encode() + b"\n")
    return key


class HomeLayout:
    """Named paths inside the state dir, so no module invents its own file names."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def stack_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def temporal_db(self) -> Path:
        return self.root / "temporal.sqlite"

    @property
    def app_db(self) -> Path:
        return self.root / "coderunner.sqlite"

    @property
    def sandbox_dir(self) -> Path:
        return self.root / "sandbox"

    @property
    def sandbox_token(self) -> Path:
        return self.root / "sandbox.token"

    @property
    def codec_token(self) -> Path:
        return self.root / "codec.token"

    @property
    def codec_key(self) -> Path:
        return self.root / "codec.key"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"
