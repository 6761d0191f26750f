"""Python import edges between the files of a project, found with `ast` (never by regular expression).

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
ordering edge, never lose one; a module importing itself is no edge (grimp keeps it); and a
namespace package split across roots is seen only in the root given.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from pathlib import Path, PurePath, PurePosixPath

from coderunner.models.pipeline import FileEdge, ImportKind


def module_name(rel: str | PurePath) -> str:
    """`pkg/sub/mod.py` -> `pkg.sub.mod`; `pkg/__init__.py` -> `pkg`."""
    parts = str(PurePosixPath(rel).with_suffix("")).split("/")
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


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


class _Collector:
    """(preferred module, fallback, kind) per imported name, noting TYPE_CHECKING blocks.

    Walks statements only (bodies of functions, classes, if/try/with/match…), never expressions:
    an import is a statement, and skipping expressions makes the walk several times faster."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: list[tuple[str, str, ImportKind]] = []

    def walk(self, statements: list[ast.stmt], kind: ImportKind) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                self.found += [(alias.name, alias.name, kind) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node, kind)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                self.walk(node.body, ImportKind.TYPE_CHECKING)
                self.walk(node.orelse, kind)
            else:
                for field in _BLOCKS:
                    children = getattr(node, field, None)
                    if children:
                        self.walk(children, kind)

    def _import_from(self, node: ast.ImportFrom, kind: ImportKind) -> None:
        base = self._base(node.level, node.module)
        if not base:
            return
        for alias in node.names:
            member = base if alias.name == "*" else f"{base}.{alias.name}"
            self.found.append((member, base, kind))

    def _base(self, level: int, module: str | None) -> str | None:
        if level == 0:
            return module
        package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
        if level - 1 >= len(package):
            return None  # beyond the top-level package: Python raises ImportError
        anchor = package[: len(package) - (level - 1)]
        return ".".join([*anchor, *([module] if module else [])])


def collect_imports(path: str, module: str, is_package: bool) -> list[tuple[str, str, str]]:
    """Parse one file: (preferred module, fallback, kind) per imported name. `ast.parse` is ~3/4 of
    the analysis time (bench/pipeline_analysis.py prints it as a baseline)."""
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), filename=path)
    except (SyntaxError, ValueError, OSError):
        return []
    collector = _Collector(module, is_package)
    collector.walk(tree.body, ImportKind.RUNTIME)
    return [(preferred, fallback, kind.value) for preferred, fallback, kind in collector.found]


def _resolve(found: list[tuple[str, str, str]], module: str, index: ModuleIndex) -> dict[str, ImportKind]:
    """A name counts as the module it names when that module is in the project, else as the longest
    module prefix of its fallback (`from x import a`: the module `x`, where `a` is defined); a
    module imported both at run time and under TYPE_CHECKING counts as run time."""
    result: dict[str, ImportKind] = {}
    for preferred, fallback, kind in found:
        target = preferred if preferred in index.by_module else index.longest_module(fallback)
        if target and target != module and result.get(target) != ImportKind.RUNTIME:
            result[target] = ImportKind(kind)
    return result


def python_edges(root: Path, files: list[Path]) -> list[FileEdge]:
    """Import edges between `files` (absolute paths under `root`, the import root)."""
    prefix = len(str(root).rstrip("/")) + 1
    rels = [str(f)[prefix:].replace(os.sep, "/") for f in files]
    index = ModuleIndex(rels)
    jobs = [
        (str(f), module_name(rel), rel.endswith("/__init__.py") or rel == "__init__.py")
        for f, rel in zip(files, rels, strict=True)
    ]
    edges: list[FileEdge] = []
    for rel, (_, module, _pkg), found in zip(
        rels, jobs, (collect_imports(*job) for job in jobs), strict=True
    ):
        for target, kind in sorted(_resolve(found, module, index).items()):
            edges.append(FileEdge.model_construct(source=rel, target=index.by_module[target], kind=kind))
    return edges
