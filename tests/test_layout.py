"""The code's shape, checked: one import namespace, no cycles, no hidden imports, no private reach-ins.

import-linter (`lint-imports` in `make test`) holds the layer contracts; these tests hold what it
cannot express: cycles between single modules, imports tucked inside functions, private names used
across modules, and what `pip install` puts into site-packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import networkx as nx
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("coderunner", "workflows", "activities", "starter")


def project_files() -> list[Path]:
    files = [REPO / "worker.py"]
    for package in (*PACKAGES, "bench"):
        files += sorted((REPO / package).rglob("*.py"))
    return files


def imports_of(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_setuptools_installs_only_the_four_packages_and_the_worker_module() -> None:
    found = find_packages(str(REPO), include=["coderunner*", "workflows*", "activities*", "starter*"])
    assert {p.split(".")[0] for p in found} == set(PACKAGES)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'py-modules = ["worker"]' in pyproject
    assert 'include = ["coderunner*", "workflows*", "activities*", "starter*"]' in pyproject
    # nothing else at the top level that looks like a package
    stray = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()} - {*PACKAGES, "tests", "bench"}
    assert stray == set()


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    # a package's __init__ importing its own submodule is not a cycle of code
    cycles = [
        c
        for c in nx.simple_cycles(edges)
        if not all(m.startswith(c[0] + ".") or c[0].startswith(m + ".") for m in c[1:])
    ]
    assert cycles == [], f"import cycles: {cycles[:5]}"


def _allowed_block(node: ast.If | ast.With) -> bool:
    """`if TYPE_CHECKING:` and Temporal's `with workflow.unsafe.imports_passed_through():` at top level."""
    if isinstance(node, ast.If):
        return "TYPE_CHECKING" in ast.unparse(node.test)
    return any("imports_passed_through" in ast.unparse(item.context_expr) for item in node.items)


def test_imports_are_at_module_level() -> None:
    hidden = []
    for path in project_files():
        tree = ast.parse(path.read_text())
        top = set()
        for node in tree.body:
            nodes = node.body if isinstance(node, ast.If | ast.With) and _allowed_block(node) else [node]
            top |= {id(n) for n in nodes if isinstance(n, ast.Import | ast.ImportFrom)}
        hidden += [
            f"{path.relative_to(REPO)}:{n.lineno}: {ast.unparse(n)}"
            for n in imports_of(tree)
            if id(n) not in top
        ]
    assert hidden == [], "imports inside a function or block"


def test_no_private_names_across_modules() -> None:
    private = []
    for path in project_files():
        private += [
            f"{path.relative_to(REPO)}:{n.lineno}: {ast.unparse(n)}"
            for n in imports_of(ast.parse(path.read_text()))
            if isinstance(n, ast.ImportFrom)
            and any(a.name.startswith("_") and not a.name.startswith("__") for a in n.names)
        ]
    assert private == []


def test_project_code_and_benchmarks_never_import_tests() -> None:
    bad = []
    for path in project_files():
        tree = ast.parse(path.read_text())
        names = [a.name for n in imports_of(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in imports_of(tree) if isinstance(n, ast.ImportFrom)]
        bad += [f"{path.relative_to(REPO)}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert bad == []


def test_worker_module_never_reaches_starter() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    tree = ast.parse((REPO / "worker.py").read_text())
    direct = {n.module for n in imports_of(tree) if isinstance(n, ast.ImportFrom) and n.module}
    direct |= {a.name for n in imports_of(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in direct if m.split(".")[0] in PACKAGES}
    reached = set(ours)
    for module in ours:
        reached |= graph.find_upstream_modules(module)
    assert sorted(m for m in reached if m.split(".")[0] == "starter") == []


def test_workflows_pass_through_the_sandbox_only_models_and_activities() -> None:
    """Anything else (decisions, workflow helpers) must be imported inside the sandbox, so its
    determinism checks apply to it and no module-level state leaks between workflow runs."""
    leaked = []
    for path in sorted((REPO / "workflows").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.With) and _allowed_block(node):
                for imp in (n for n in node.body if isinstance(n, ast.Import | ast.ImportFrom)):
                    is_from = isinstance(imp, ast.ImportFrom)
                    names = [imp.module or ""] if is_from else [a.name for a in imp.names]
                    leaked += [f"{path.name}:{imp.lineno}: {n}" for n in names
                               if not n.startswith(("coderunner.models", "activities"))]
    assert leaked == []


def test_every_worker_and_replayer_uses_the_project_sandbox_runner() -> None:
    """Without WORKFLOW_RUNNER a model module re-imported inside the sandbox makes a second class of a
    model (`Resources`, `ConfigRef`) that pydantic refuses: every Worker and Replayer must pass it."""
    missing = []
    files = [REPO / "worker.py", *(REPO / "tests").rglob("*.py"), *(REPO / "bench").glob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("Worker", "Replayer"):
                if "workflows" in {k.arg for k in node.keywords} and "workflow_runner" not in {
                    k.arg for k in node.keywords
                }:
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert missing == []
