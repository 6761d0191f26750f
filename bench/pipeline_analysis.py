"""Import analysis speed: a generated 10,000-file Python tree, ours (`ast`) next to grimp's on the same tree.

    python bench/pipeline_analysis.py [--files 10000]

The tree: one top-level package of 100 sub-packages x 100 modules; each module imports 3-6 others
(absolute, relative, `from . import x`, one under `if TYPE_CHECKING:`) and a function body of ~40
lines. Goal: ours <= 2 s. grimp (Rust core) is the reference for both speed and edges; the edge sets
are compared too (equal but for the self-imports grimp keeps and we drop: a module importing itself
orders nothing).
"""

from __future__ import annotations

import argparse
import ast
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grimp

from coderunner.pipeline.filegraph import file_graph
from coderunner.pipeline.python_imports import module_name

OUT = Path(__file__).resolve().parent / "out"
ROUNDS = 2
BODY = "\n".join(f"    total += {n} * value  # arithmetic the parser must still read" for n in range(40))


def generate(root: Path, files: int, seed: int = 3) -> Path:
    rng = random.Random(seed)
    packages = max(1, files // 100)
    top = root / "gentree"
    top.mkdir()
    (top / "__init__.py").write_text("")
    for p in range(packages):
        pkg = top / f"p{p}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("from . import m0\n")
        for m in range(99):
            lines = ["from typing import TYPE_CHECKING", "import os"]
            for _ in range(rng.randint(2, 4)):
                q, n = rng.randrange(packages), rng.randrange(99)
                lines.append(f"import gentree.p{q}.m{n}" if q != p else f"from . import m{n}")
            lines.append(f"from gentree.p{rng.randrange(packages)} import m{rng.randrange(99)} as other")
            lines.append(
                f"if TYPE_CHECKING:\n    from ..p{rng.randrange(packages)}.m{rng.randrange(99)} import X"
            )
            lines.append(f"\n\ndef work(value):\n    total = 0\n{BODY}\n    return total\n")
            (pkg / f"m{m}.py").write_text("\n".join(lines))
    return top


def main(files: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="analysis-", dir=OUT))
    try:
        top = generate(root, files)
        count = sum(1 for _ in top.rglob("*.py"))
        sys.path.insert(0, str(root))
        # best of ROUNDS, interleaved: on a shared machine the load moves more than the code does
        timings: dict[str, list[float]] = {"parse": [], "ours": [], "grimp": []}
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for file in top.rglob("*.py"):
                ast.parse(file.read_bytes())
            timings["parse"].append(time.perf_counter() - start)
            start = time.perf_counter()
            graph = file_graph(root)
            timings["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            reference = grimp.build_graph("gentree", cache_dir=None)
            timings["grimp"].append(time.perf_counter() - start)
        parse_s, ours_s, grimp_s = (min(timings[k]) for k in ("parse", "ours", "grimp"))
        ours = {(module_name(Path(e.source)), module_name(Path(e.target))) for e in graph.edges}
        theirs = {
            (m, i)
            for m in reference.modules
            for i in reference.find_modules_directly_imported_by(m)
            if m != i
        }
        print(f"{count} Python files, {len(graph.edges)} import edges")
        print(
            f"best of {ROUNDS}: ours (ast, one process): {ours_s:.2f}s   grimp: {grimp_s:.2f}s"
            f"   ratio {ours_s / grimp_s:.1f}x"
        )
        print(f"bare ast.parse of the same files: {parse_s:.2f}s (ours = {ours_s / parse_s:.2f}x the parse)")
        print(
            f"edge sets equal: {ours == theirs} "
            f"(ours only: {len(ours - theirs)}, grimp only: {len(theirs - ours)})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    main(parser.parse_args().files)
