"""`coderunner up` twice changes nothing, `stack` reports every piece answering, `down` twice is calm.

One slow test (it starts a whole embedded stack); test_embedded_stack.py covers up/down/up resuming.
"""

from __future__ import annotations

import re
from pathlib import Path

from coderunner.config.home import HomeLayout
from tests.cli_helpers import coderunner
from tests.test_embedded_stack import recorded, stack_env

PIECE = re.compile(r"^  (\S.*?)\s+(up|DOWN) ?(\d*)$", re.M)  # `stack`: name, state, pid


def test_up_twice_changes_nothing_and_down_twice_is_calm(tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = stack_env(home)
    try:
        up = coderunner("up", env=env, timeout=180)
        assert up.returncode == 0, up.stderr
        stack_file = HomeLayout(home).stack_file
        first_file = stack_file.read_bytes()
        first = recorded(home)
        assert first and all(r.alive() for r in first.values())

        again = coderunner("up", env=env, timeout=180)
        assert again.returncode == 0 and "already up" in again.stdout, again.stdout + again.stderr
        assert stack_file.read_bytes() == first_file  # stack.json untouched
        second = recorded(home)
        assert {n: r.pid for n, r in second.items()} == {n: r.pid for n, r in first.items()}
        assert all(r.alive() for r in second.values())  # the same processes, still running

        status = coderunner("stack", env=env)
        assert status.returncode == 0, status.stderr
        rows = [m.groups() for m in PIECE.finditer(status.stdout)]
        assert len(rows) >= 3 and {state for _, state, _ in rows} == {"up"}, status.stdout
        shown = {int(pid) for _, _, pid in rows if pid}
        assert shown and shown <= {r.pid for r in first.values()}, (shown, status.stdout)

        down = coderunner("down", env=env)
        assert down.returncode == 0 and down.stdout.startswith("stopped: "), down.stdout
        assert all(r.alive() is None for r in first.values())
        twice = coderunner("down", env=env)
        assert twice.returncode == 0, twice.stderr
        assert "nothing was running" in twice.stdout and "Traceback" not in twice.stderr
        after = coderunner("stack", env=env)
        assert "Traceback" not in after.stderr
        assert after.returncode == 1 and "stack not running" in after.stderr, after.stdout + after.stderr
    finally:
        coderunner("down", env=env)
