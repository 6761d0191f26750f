"""CodeRunner's demo app: a tiny HTTP service with knobs for every failure a rollout must handle.

Standard library only so an instance starts in ~50 ms, which keeps tests and benchmarks about the
orchestrator rather than the app. Knobs (env): VERSION, ERROR_RATE (0..1 fraction of `/` answered
500), LATENCY_MS (added to `/`), STARTUP_DELAY_S (sleep before listening), CRASH_ON_START ("1"/"true":
exit 1 at once). Listens on 127.0.0.1:$PORT.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

VERSION = os.environ.get("VERSION", "v1")
INSTANCE = os.environ.get("INSTANCE_ID") or socket.gethostname()
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0") or 0)
LATENCY_S = float(os.environ.get("LATENCY_MS", "0") or 0) / 1000.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a router's pooled connections are reused
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms Nagle stall

    def _send(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send(200, {"status": "ok", "version": VERSION})
        elif path == "/":
            if LATENCY_S:
                time.sleep(LATENCY_S)
            if ERROR_RATE and random.random() < ERROR_RATE:
                self._send(500, {"error": "injected failure", "version": VERSION, "instance": INSTANCE})
            else:
                self._send(200, {"version": VERSION, "instance": INSTANCE, "pid": os.getpid()})
        else:
            self._send(404, {"error": "not found", "path": path})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a per-request line would make the app's log useless under load."""


def _exit(signum: int, frame: FrameType | None) -> None:
    print(f"demo app {VERSION}: signal {signum}, exiting", flush=True)
    sys.exit(0)


def main() -> None:
    if os.environ.get("CRASH_ON_START", "").lower() in ("1", "true", "yes"):
        print(f"demo app {VERSION}: CRASH_ON_START set, exiting with code 1", flush=True)
        sys.exit(1)
    signal.signal(signal.SIGTERM, _exit)
    delay = float(os.environ.get("STARTUP_DELAY_S", "0") or 0)
    if delay:
        time.sleep(delay)
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"demo app {VERSION} listening on 127.0.0.1:{port} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
