"""Files in the state dir are replaced whole: a reader (the stack's CLI, a test, another process)
never sees one half written, as it did while the supervisor rewrote stack.json."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from coderunner.config.home import write_private


def test_a_reader_never_sees_a_half_written_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    contents = [b'{"n": %d, "pad": "%s"}' % (n, b"x" * 4096) for n in range(2)]
    write_private(path, contents[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(path.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(3000):
            write_private(path, contents[n % 2])
    finally:
        done.set()
        reader.join()
    assert seen <= set(contents), sorted(len(s) for s in seen - set(contents))[:5]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]  # no temp file left behind
