"""Python import edges between the files of a project, read by `ast` (never by regular expression).

Semantics follow grimp's, so the two can be compared edge for edge (tests/test_pipeline_grimp.py):
`import a.b.c` depends on the module `a.b.c` (or the longest prefix of it that is a module of the
project); `from a.b import c` depends on `a.b.c` when that is a module, else on `a.b`; relative imports
resolve against the importing module's package (for a package's `__init__.py`, the package itself).
Imports anywhere count (inside functions too: they run). Imports under `if TYPE_CHECKING:` (or
`typing.TYPE_CHECKING`) are reported with kind `type_checking`: they never run, so they are kept out
of the task graph but shown by `pipeline analyze`.

Documented differences from grimp (measured in tests/test_pipeline_grimp.py): an import of a module
that is not a .py file of the project (a C extension such as `yaml._yaml`) falls back to the longest
project module prefix (`yaml`) where grimp drops it — an over-approximation that can only add an
ordering edge, never lose one; a module importing itself is no edge (grimp keeps it); a
namespace package split across roots is seen only in the root given; and a file with a syntax error
away from its import statements still has their edges (`ast` reads only the import skeleton, see
coderunner/pipeline/python_ast.py), where a full parse would give the file no edges at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePath

from coderunner.models.pipeline import FileEdge, ImportKind
from coderunner.pipeline.python_ast import Found, PyFile, collect_all, gc_paused


def module_name(rel: str | PurePath) -> str:
    """`pkg/sub/mod.py` -> `pkg.sub.mod`; `pkg/__init__.py` -> `pkg`. String operations, not
    pathlib: this runs for every file of the project and pathlib's parsing was a tenth of the analysis."""
    parts = str(rel).replace(os.sep, "/").split("/")
    dot = parts[-1].rfind(".")
    if dot > 0:
        parts[-1] = parts[-1][:dot]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(p for p in parts if p not in ("", "."))


class ModuleIndex:
    """Module name -> project-relative file, for the files under one import root."""

    def __init__(self, rel_files: Iterable[str]) -> None:
        self.by_module: dict[str, str] = {}
        for rel in rel_files:
            name = module_name(rel)
            if name:
                self.by_module[name] = rel

    def longest_module(self, dotted: str) -> str | None:
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in self.by_module:
                return candidate
        return None


def _resolve(found: Found, module: str, index: ModuleIndex) -> dict[str, ImportKind]:
    """A name counts as the module it names when that module is in the project, else as the longest
    module prefix of its fallback (`from x import a`: the module `x`, where `a` is defined); a
    module imported both at run time and under TYPE_CHECKING counts as run time."""
    result: dict[str, ImportKind] = {}
    for preferred, fallback, kind in found:
        target = preferred if preferred in index.by_module else index.longest_module(fallback)
        if target and target != module and result.get(target) != ImportKind.RUNTIME:
            result[target] = kind
    return result


def python_edges(root: Path, files: list[Path]) -> list[FileEdge]:
    """Import edges between `files` (absolute paths under `root`, the import root). A file that
    cannot be read or parsed imports nothing."""
    prefix = len(str(root).rstrip("/")) + 1
    rels = [str(f)[prefix:].replace(os.sep, "/") for f in files]
    index = ModuleIndex(rels)
    modules = [module_name(rel) for rel in rels]
    tops = frozenset(name.split(".")[0].encode() for name in index.by_module)
    pyfiles = [
        PyFile(str(f), m, rel.endswith("/__init__.py") or rel == "__init__.py")
        for f, rel, m in zip(files, rels, modules, strict=True)
    ]
    edges: list[FileEdge] = []
    with gc_paused():
        for rel, module, found in zip(rels, modules, collect_all(pyfiles, tops), strict=True):
            for target, kind in sorted(_resolve(found, module, index).items()):
                edges.append(FileEdge.model_construct(source=rel, target=index.by_module[target], kind=kind))
    return edges
