"""Reading import statements out of Python sources with `ast`, many files per `ast.parse` call.

Why batches: each file hands `ast` only its import skeleton (coderunner/pipeline/import_scan.py), a
few lines, and at that size `ast.parse`'s fixed cost per call (~50-80 us) outweighs the parsing, so the
skeletons of a few hundred files are parsed as one module and its top-level statements handed back
to their files by line number. A skeleton is whole top-level statements, so concatenating them
changes no statement's meaning (`ast` accepts `from __future__` anywhere; only the compiler does not).
Any doubt falls back to less batching, then to a full parse of the file: a chunk that does not parse
is parsed file by file, and a file whose skeleton does not hold exactly the import statements the scan
counted is parsed whole.
"""

from __future__ import annotations

import ast
import gc
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from coderunner.models.pipeline import ImportKind
from coderunner.pipeline.import_scan import skeleton

CHUNK = 256  # files per `ast.parse`: large enough to amortise its fixed cost, small enough to redo
BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")

Found = list[tuple[str, str, ImportKind]]  # (preferred module, fallback module, kind) per name


@dataclass(frozen=True)
class PyFile:
    """One file to read: its path and where it sits (relative imports resolve against it)."""

    path: str
    module: str
    is_package: bool


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:` (any module's attribute of that name)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class ImportCollector:
    """(preferred module, fallback, kind) per imported name, noting TYPE_CHECKING blocks.

    Walks statements only (bodies of functions, classes, if/try/with/match…), never expressions:
    an import is a statement, and skipping expressions makes the walk several times faster."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: Found = []
        self.statements = 0  # import statements seen: checks a skeleton against the scan's count

    def walk(self, statements: Sequence[ast.stmt], kind: ImportKind) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                self.statements += 1
                self.found += [(alias.name, alias.name, kind) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                self.statements += 1
                self._import_from(node, kind)
            elif isinstance(node, ast.If) and is_type_checking(node.test):
                self.walk(node.body, ImportKind.TYPE_CHECKING)
                self.walk(node.orelse, kind)
            else:
                for field in BLOCKS:
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


def _collect(file: PyFile, statements: Sequence[ast.stmt]) -> ImportCollector:
    collector = ImportCollector(file.module, file.is_package)
    collector.walk(statements, ImportKind.RUNTIME)
    return collector


def read(path: str) -> bytes:
    """A file's bytes; one that cannot be read is empty (it imports nothing)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def parse_whole(file: PyFile, source: bytes) -> Found:
    """The full parse: for files the scan declines. A file that does not parse imports nothing."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return _collect(file, tree.body).found


def _from_skeleton(
    file: PyFile, source: bytes, sketch: tuple[bytes, int], statements: Sequence[ast.stmt]
) -> Found:
    collector = _collect(file, statements)
    return collector.found if collector.statements == sketch[1] else parse_whole(file, source)


def _one_by_one(
    files: Sequence[PyFile], sources: Sequence[bytes], sketches: Sequence[tuple[bytes, int] | None]
) -> list[Found]:
    results: list[Found] = []
    for file, source, sketch in zip(files, sources, sketches, strict=True):
        try:
            body = ast.parse(sketch[0]).body if sketch is not None else None
        except (SyntaxError, ValueError):
            body = None
        if body is None or sketch is None:
            results.append(parse_whole(file, source))
        else:
            results.append(_from_skeleton(file, source, sketch, body))
    return results


def _chunk(files: Sequence[PyFile], tops: frozenset[bytes] | None) -> list[Found]:
    sources = [read(f.path) for f in files]
    sketches = [skeleton(source, tops) for source in sources]
    firsts: list[int] = []  # the combined module's first line of each file's skeleton
    line = 1
    for sketch in sketches:
        firsts.append(line)
        line += sketch[0].count(b"\n") if sketch is not None else 0
    try:
        body = ast.parse(b"".join(s[0] for s in sketches if s is not None)).body
    except (SyntaxError, ValueError):
        return _one_by_one(files, sources, sketches)
    per_file: list[list[ast.stmt]] = [[] for _ in files]
    for node in body:
        per_file[bisect_right(firsts, node.lineno) - 1].append(node)
    return [
        parse_whole(file, source) if sketch is None else _from_skeleton(file, source, sketch, statements)
        for file, source, sketch, statements in zip(files, sources, sketches, per_file, strict=True)
    ]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off for the duration: the analysis allocates hundreds of thousands of
    acyclic objects (AST nodes, tuples), each allocation burst triggering collections that find
    nothing (~10-25 % of the time, measured). Restored as found, so nesting and threads are safe."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_all(files: Sequence[PyFile], tops: frozenset[bytes] | None = None) -> list[Found]:
    """Every file's imported names, in the order of `files`, reading a chunk of files at a time.
    With `tops`, the project's top-level module names, names that cannot be the project's
    (`import os`) may be left out. Call it under `gc_paused()`."""
    results: list[Found] = []
    for start in range(0, len(files), CHUNK):
        results += _chunk(files[start : start + CHUNK], tops)
    return results
