"""Import analysis: Python via ast, JS/TS via tree-sitter, on fixtures covering every import form."""

from __future__ import annotations

from pathlib import Path

import pytest

from coderunner.models.pipeline import ImportKind
from coderunner.pipeline.filegraph import file_graph
from coderunner.pipeline.js_imports import language_for, specifiers

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_jsts"
R, T = ImportKind.RUNTIME, ImportKind.TYPE_CHECKING


@pytest.mark.parametrize("suffix", [".js", ".jsx", ".mjs", ".cjs", ".ts", ".mts", ".tsx"])
def test_each_grammar_loads_and_parses(suffix: str) -> None:
    source = (
        b"import a from './a';\nexport const x = <b/>;"
        if suffix in (".jsx", ".tsx")
        else b"import a from './a';"
    )
    assert specifiers(source, suffix) == [("./a", R)]
    assert language_for(suffix).abi_version > 0


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def edges(root: Path) -> set[tuple[str, str, ImportKind]]:
    return {(e.source, e.target, e.kind) for e in file_graph(root).edges}


def test_python_import_forms(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "app/__init__.py": "from . import core\nfrom .util import helper\n",
            "app/core.py": "import app.util.helper\nimport os\n",
            "app/util/__init__.py": "",
            "app/util/helper.py": "from .. import core  # relative, two levels\n"
            "def f():\n    from app.util import text  # inside a function: still runs\n",
            "app/util/text.py": "from app.core import NAME  # a name, not a module: the module core\n",
            "app/typed.py": "from typing import TYPE_CHECKING\nimport typing\n"
            "if TYPE_CHECKING:\n    from app import core\nelse:\n    import app.util\n"
            "if typing.TYPE_CHECKING:\n    import app.util.text\n",
            "app/star.py": "from app.util.helper import *\n"
            "from ... import nothing  # beyond the top: ignored\n",
            "top.py": "import app\nfrom app import typed, missing_name\n",
        },
    )
    assert edges(root) == {
        ("app/__init__.py", "app/core.py", R),
        ("app/__init__.py", "app/util/helper.py", R),
        ("app/core.py", "app/util/helper.py", R),
        ("app/util/helper.py", "app/core.py", R),
        ("app/util/helper.py", "app/util/text.py", R),
        ("app/util/text.py", "app/core.py", R),
        ("app/typed.py", "app/core.py", T),
        ("app/typed.py", "app/util/__init__.py", R),
        ("app/typed.py", "app/util/text.py", T),
        ("app/star.py", "app/util/helper.py", R),
        ("top.py", "app/__init__.py", R),
        ("top.py", "app/typed.py", R),
    }


def test_python_src_layout(tmp_path: Path) -> None:
    root = write(
        tmp_path, {"src/pkg/__init__.py": "", "src/pkg/a.py": "from pkg import b\n", "src/pkg/b.py": ""}
    )
    assert edges(root) == {("src/pkg/a.py", "src/pkg/b.py", R)}


def test_js_ts_corpus_covers_every_form() -> None:
    graph = file_graph(FIXTURE)
    found = {(e.source, e.target, e.kind) for e in graph.edges}
    main = "src/main.ts"
    assert found == {
        (main, "src/default.ts", R),
        (main, "src/lib/named.ts", R),
        (main, "src/util/index.ts", R),
        (main, "src/side-effect.js", R),
        (main, "types/index.d.ts", T),
        (main, "src/lib/helper.ts", R),
        (main, "src/util/base.ts", R),
        (main, "src/reexport.ts", R),
        (main, "src/legacy.cjs", R),
        (main, "src/legacy2.ts", R),
        (main, "src/lazy.ts", R),
        (main, "src/template.js", R),
        ("src/components/Button.tsx", "src/lib/helper.ts", R),
        ("src/components/legacy.jsx", "src/components/Button.tsx", R),
        ("src/index.mjs", "src/default.ts", R),
        ("src/index.mjs", "src/components/legacy.jsx", R),
    }
    assert graph.unresolved == ["src/main.ts: ./missing"]


def test_regex_would_be_fooled_but_the_parser_is_not() -> None:
    source = b"""// import a from './commented';
const s = "require('./in-a-string')";
/* export * from './block' */
const real = require('./real');
"""
    assert specifiers(source, ".js") == [("./real", R)]
