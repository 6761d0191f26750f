"""The example agent: writes a module of the calc package. Usage: python tools/write.py FILE.

Deterministic, so the result cache can reuse its output. calc/stats.py comes out wrong the first time;
a fix attempt (it finds the QA step's output in $CODERUNNER_FEEDBACK) writes it right.
"""

import os
import sys
from pathlib import Path

SOURCES = {
    "calc/add.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "calc/mul.py": "def mul(a: int, b: int) -> int:\n    return a * b\n",
    "calc/fmt.py": "def fmt(x: float) -> str:\n    return f'{x:.2f}'\n",
    "calc/report.py": "from calc import legacy\n\n\ndef report() -> str:\n    return legacy.__doc__ or ''\n",
}
STATS = (
    "from calc.add import add\n\n\n"
    "def mean(xs: list[int]) -> float:\n    return add(0, sum(xs)) {op} len(xs)\n"
)
STATS_WRONG, STATS_RIGHT = STATS.format(op="//"), STATS.format(op="/")

path = sys.argv[1]
if path == "calc/stats.py":
    feedback = os.environ.get("CODERUNNER_FEEDBACK", "")
    text = STATS_RIGHT if "mean" in feedback else STATS_WRONG
    if feedback:
        print(f"fixing calc/stats.py after: {feedback.strip().splitlines()[-1]}")
else:
    text = SOURCES[path]
Path(path).write_text(text)
