"""The calc service: what the pipeline's Ops stage releases (`deploy` in ../plan.yaml).

GET / answers the calc package's result (`not built` before the pipeline has written it), GET /health
an empty 200. Standard library only; listens on 127.0.0.1:$PORT; VERSION is the pipeline run.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
VERSION = os.environ.get("VERSION", "dev")


def result() -> str:
    try:
        from calc.add import add
        from calc.fmt import fmt
        from calc.mul import mul
        from calc.stats import mean
    except ImportError:
        return "not built"
    return fmt(mean([add(1, 1), mul(2, 2)]))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"" if self.path == "/health" else json.dumps({"version": VERSION, "mean": result()}).encode()
        self.send_response(200 if self.path in ("/", "/health") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet under load."""


ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
