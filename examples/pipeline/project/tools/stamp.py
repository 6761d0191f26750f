"""The example agent's dev command: wait a little (the work), then stamp the owned file.

Usage: python tools/stamp.py FILE [SECONDS]. Deterministic: the same input gives the same output, so
the result cache can reuse it. STAMP_SLEEP_SCALE scales the wait (0 in fast tests).
"""

import os
import sys
import time
from pathlib import Path

path = Path(sys.argv[1])
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
time.sleep(seconds * float(os.environ.get("STAMP_SLEEP_SCALE", "1")))
text = path.read_text() if path.exists() else ""
lines = [line for line in text.splitlines() if not line.startswith(("# built:", "// built:"))]
mark = "//" if path.suffix in (".ts", ".tsx", ".js") else "#"
path.write_text("\n".join([f"{mark} built: {path.as_posix()}", *lines]) + "\n")
