"""The import skeleton (coderunner/pipeline/import_scan.py) must give `ast` exactly the imports a full
parse finds, with the same kinds, or decline: each case is checked against `parse_whole`."""

from __future__ import annotations

from pathlib import Path

import pytest

from coderunner.models.pipeline import ImportKind
from coderunner.pipeline.import_scan import outside, skeleton
from coderunner.pipeline.python_ast import PyFile, collect_all, gc_paused, parse_whole

R, T = ImportKind.RUNTIME, ImportKind.TYPE_CHECKING

CASES: dict[str, str] = {
    "plain": "import app.a\nfrom app import b\nfrom . import c\n"
    "from ..x import (\n    d,  # see f(x)\n    e,\n)\n",
    "docstring": '"""Usage:\n\n    import app.not_real\n"""\nimport app.a\n',
    "strings": "x = 'import app.no'\ny = \"it's # not a comment\"; import app.a\nz = r'\\'' ; import app.b\n",
    "comment quotes": "# don't import app.no\nimport app.a  # it's fine\n",
    "escaped": 's = "a \\" import app.no"\nimport app.a\n',
    "triple in single": "s = '\"\"\"'\nimport app.a\nt = '''\nimport app.no\n'''\n",
    "f-string": 's = f"{x!r} import app.no"\nimport app.a\n',
    "function": "def f():\n    import app.a\n    if x:\n        from app import b\n",
    "type checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app.t\n"
    "else:\n    import app.r\n",
    "type checking elif": "import typing\nif x:\n    pass\nelif typing.TYPE_CHECKING:\n    import app.t\n"
    "else:\n    import app.r\n",
    "type checking nested": "TYPE_CHECKING = False\ndef f():\n    if TYPE_CHECKING:\n        for a in b:\n"
    "            import app.t\n    import app.r\n",
    "type checking in try": "TYPE_CHECKING = 0\ntry:\n    import app.r\nexcept ImportError:\n"
    "    if TYPE_CHECKING:\n        import app.t\nelse:\n    import app.e\nfinally:\n    import app.f\n",
    "one-liner": "TYPE_CHECKING = 0\nif TYPE_CHECKING: import app.t\nimport app.r\n",
    "one-liner try": "try: import app.a\nexcept ImportError: app = None\n",
    "semicolons": "import app.a; import app.b\nx = 1; from app import c\n",
    "backslash": "from app \\\n    import a\n",
    "multi-line header": "TYPE_CHECKING = 0\ndef f(\n    x,\n) -> None:\n"
    "    if TYPE_CHECKING:\n        import app.t\n",
    "match": "TYPE_CHECKING = 0\nmatch x:\n    case 1:\n        if TYPE_CHECKING:\n            import app.t\n"
    "    case _:\n        import app.r\n",
    "async": "TYPE_CHECKING = 0\nasync def f():\n    async with x:\n        if TYPE_CHECKING:\n"
    "            import app.t\n",
    "class": "from __future__ import annotations\nTYPE_CHECKING = 0\nclass A(B):\n    import app.a\n"
    "    if TYPE_CHECKING:\n        import app.t\n",
    "names not modules": "import importlib\nx = __import__('app.no')\n"
    "importlib.import_module('app.no')\nimport app.a\n",
    "crlf": "import app.a\r\nif TYPE_CHECKING:\r\n    import app.t\r\n",
    "bom": "\ufeffimport app.a\n",
    "unterminated": "import app.a\ns = 'oops\n",
    "tabs": "TYPE_CHECKING = 0\nif TYPE_CHECKING:\n\timport app.t\n",
    "star and alias": "from app.a import *\nimport app.b as bee, os.path as p\n",
    "no imports": "x = 1\n",
}


def expected(source: bytes, module: str) -> list[tuple[str, str, ImportKind]]:
    return sorted(parse_whole(PyFile("x.py", module, False), source))


@pytest.mark.parametrize("name", sorted(CASES))
def test_skeleton_finds_what_a_full_parse_finds(name: str, tmp_path: Path) -> None:
    source = CASES[name].encode()
    (tmp_path / "m.py").write_bytes(source)
    file = PyFile(str(tmp_path / "m.py"), "app.sub.m", False)
    for tops in (None, frozenset({b"app"})):
        with gc_paused():
            [found] = collect_all([file], tops)
        full = expected(source, "app.sub.m")
        if tops is not None:  # imports of other top-level names (os, typing) may be left out
            full = [f for f in full if f[0].split(".")[0] == "app"]
            found = [f for f in found if f[0].split(".")[0] == "app"]
        assert sorted(found) == full, name


def test_a_syntax_error_away_from_the_imports_keeps_them(tmp_path: Path) -> None:
    """The documented difference from a full parse: only the import statements are parsed, so a file
    broken elsewhere still reports them (an edge more, never one lost); a full parse reports none."""
    source = b"import app.a\ndef (:\n"
    (tmp_path / "m.py").write_bytes(source)
    with gc_paused():
        assert collect_all([PyFile(str(tmp_path / "m.py"), "app.m", False)]) == [[("app.a", "app.a", R)]]
    assert expected(source, "app.m") == []


def test_declined_files_are_parsed_whole() -> None:
    for source in (
        b"from app \\\n    import a\n",
        b"# -*- coding: latin-1 -*-\nimport app.a\n",
        b"x\rimport a\n",
    ):
        assert skeleton(source) is None
    assert skeleton(b"import os\n", frozenset({b"app"})) == (b"", 0)


def test_a_chunk_with_a_broken_file_still_reads_the_others(tmp_path: Path) -> None:
    """One file whose skeleton does not parse (a `try:` one-liner) sends its chunk file by file."""
    files = []
    for i, name in enumerate(sorted(CASES)):
        (tmp_path / f"m{i}.py").write_bytes(CASES[name].encode())
        files.append(PyFile(str(tmp_path / f"m{i}.py"), "app.sub.m", False))
    with gc_paused():
        found = collect_all(files)
    assert [sorted(f) for f in found] == [
        expected(CASES[name].encode(), "app.sub.m") for name in sorted(CASES)
    ]


def test_kinds_under_type_checking() -> None:
    source = CASES["type checking in try"].encode()
    kinds = {name: kind for name, _, kind in parse_whole(PyFile("x.py", "app.m", False), source)}
    assert kinds == {"app.r": R, "app.t": T, "app.e": R, "app.f": R}


@pytest.mark.parametrize(
    ("statement", "result"),
    [
        (b"import os", True),
        (b"import os, sys as s  # app", True),
        (b"from typing import TYPE_CHECKING", True),
        (b"    from os.path import (\n join,\n)", True),
        (b"import os, app.x", False),
        (b"from app import x", False),
        (b"from . import x", False),
        (b"from .os import x", False),
        (b"import os; import app", False),
        (b"if x: import os", False),
        (b"import caf\xc3\xa9", False),
    ],
)
def test_outside_keeps_anything_that_could_name_the_project(statement: bytes, result: bool) -> None:
    assert outside(statement, frozenset({b"app"})) is result
