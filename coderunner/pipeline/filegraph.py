"""The file graph of a project: every source file and the imports between them (Python and JS/TS).

Directories that hold no project source (VCS, virtualenvs, node_modules, caches) are skipped.
Python's import roots are the project directory and, for the `src/` layout, `src/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from coderunner.models.pipeline import FileGraph
from coderunner.pipeline.js_imports import JS_SUFFIXES, js_edges
from coderunner.pipeline.python_imports import python_edges

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        "dist",
        "build",
        ".coderunner",
    }
)


def project_files(root: Path) -> list[str]:
    """Every file of the project, project-relative posix paths, sorted."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            found.append(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/"))
    return sorted(found)


def file_graph(root: Path) -> FileGraph:
    root = root.resolve()
    files = project_files(root)
    py = [f for f in files if f.endswith(".py")]
    src_layout = (root / "src").is_dir() and not (root / "src" / "__init__.py").exists()
    in_src = [f for f in py if src_layout and f.startswith("src/")]
    edges = python_edges(root, [root / f for f in py if f not in set(in_src)])
    if in_src:
        edges += [
            e.model_copy(update={"source": f"src/{e.source}", "target": f"src/{e.target}"})
            for e in python_edges(root / "src", [root / f for f in in_src])
        ]
    js, unresolved = js_edges(root, [f for f in files if f.endswith(JS_SUFFIXES)], frozenset(files))
    return FileGraph(files=files, edges=edges + js, unresolved=unresolved)
