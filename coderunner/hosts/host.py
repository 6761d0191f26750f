"""The local sandbox host process: `python -m sandbox.host --home DIR --port N`.

Binds 127.0.0.1 only and requires the bearer token from the state dir. SIGTERM/SIGINT is a graceful
`down`: stop every instance and router, exit 0. SIGUSR1 is a `down` that keeps the apps serving: the
host exits but instances and routers keep running for the next host to adopt. SIGKILL is a crash:
instances and routers (own sessions) keep running and the next host started on the same home adopts
them. A lock on the home makes sure
two hosts never manage the same instances.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import resource
import signal
import sys
from pathlib import Path
from typing import IO

from aiohttp import web

from coderunner.config.home import HomeLayout, ensure_home, home_dir, read_or_create_token
from coderunner.hosts.api import create_app
from coderunner.hosts.local import LocalSandbox

log = logging.getLogger("coderunner.hosts.host")

HOST_FILE = "host.json"  # {"pid", "port", "url"} of the running host, for launchers and tools


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.host", description=__doc__)
    parser.add_argument("--home", default=None, help="state dir (default: $CODERUNNER_HOME or .coderunner)")
    parser.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--stop-grace-s", type=float, default=5.0,
                        help="on shutdown: seconds between SIGTERM and SIGKILL for each instance")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="API address; keep 127.0.0.1 unless a container network needs more")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _raise_fd_limit() -> None:
    """Routers and 1,000-endpoint probes need many sockets; the default soft limit is often 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536,
                                                         hard))


def _lock_home(sandbox_dir: Path) -> IO[str]:
    """An exclusive flock held for the process lifetime (the kernel drops it even on SIGKILL)."""
    handle = (sandbox_dir / "host.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit(f"another sandbox host is already running on {sandbox_dir}") from None
    return handle


async def serve(home: Path, port: int, stop_grace_s: float, bind: str = "127.0.0.1") -> None:
    layout = HomeLayout(ensure_home(home))
    layout.sandbox_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_home(layout.sandbox_dir)
    token = read_or_create_token(layout.sandbox_token)
    sandbox = LocalSandbox(layout.sandbox_dir)
    await sandbox.start()
    runner = web.AppRunner(create_app(sandbox, token), access_log=None, handle_signals=False,
                           shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, bind, port)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await sandbox.routers.close(stop_routers=False)  # instances stay up: a later host can adopt them
        raise SystemExit(f"cannot listen on {bind}:{port}: {exc}") from None
    actual = int(runner.addresses[0][1])
    host_file = layout.sandbox_dir / HOST_FILE
    host_file.write_text(json.dumps({"pid": os.getpid(), "port": actual, "url": f"http://127.0.0.1:{actual}"}))
    log.info("sandbox host listening on http://127.0.0.1:%s (home %s, pid %s)", actual, home, os.getpid())

    stop = asyncio.Event()
    keep_apps: list[bool] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def detach() -> None:
        keep_apps.append(True)
        stop.set()

    loop.add_signal_handler(signal.SIGUSR1, detach)
    await stop.wait()

    if keep_apps:
        log.info("shutting down, leaving instances and routers running for the next host")
    else:
        log.info("shutting down: stopping %d running instance(s)",
                 sum(1 for i in sandbox.instances.instances.values() if i.running))
    await runner.cleanup()
    await sandbox.shutdown(stop_grace_s, keep_apps=bool(keep_apps))
    host_file.unlink(missing_ok=True)
    lock.close()
    log.info("sandbox host stopped")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _raise_fd_limit()
    asyncio.run(serve(home_dir(args.home), args.port, args.stop_grace_s, args.bind))


if __name__ == "__main__":
    main()
