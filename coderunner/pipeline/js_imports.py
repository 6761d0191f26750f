"""JavaScript/TypeScript import edges, parsed with tree-sitter (the grammars pinned in pyproject).

Import forms: `import … from 's'`, `import 's'`, `import type … from 's'` (type-only: kind
`type_checking`, like Python's TYPE_CHECKING), `export … from 's'`, `require('s')`, TypeScript's
`import x = require('s')`, and dynamic `import('s')` with a string or a template without `${}`.
Specifiers resolve like TypeScript's bundler resolution: relative paths, then tsconfig.json `paths`
patterns and `baseUrl`; each candidate as a file, with the extensions, then as a directory's index
file; `./x.js` written in a .ts file also finds `x.ts`. Bare package names (node_modules) are external
and ignored.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from coderunner.models.pipeline import FileEdge, ImportKind

JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")
RESOLVE_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".json")


@cache
def language_for(suffix: str) -> Language:
    """The grammar for a file suffix: typescript, tsx, else javascript (which parses JSX too)."""
    if suffix in (".ts", ".mts", ".cts"):
        return Language(tree_sitter_typescript.language_typescript())
    if suffix == ".tsx":
        return Language(tree_sitter_typescript.language_tsx())
    return Language(tree_sitter_javascript.language())


def _string_value(node: Node | None) -> str | None:
    """The text of a string literal or a template literal without substitutions."""
    if node is None or node.type not in ("string", "template_string"):
        return None
    if any(child.type == "template_substitution" for child in node.children):
        return None
    return "".join((c.text or b"").decode() for c in node.children if c.type == "string_fragment")


def _first_arg(call: Node) -> Node | None:
    args = call.child_by_field_name("arguments")
    if args is None:
        return None
    named = [c for c in args.children if c.is_named and c.type != "comment"]
    return named[0] if named else None


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def specifiers(source: bytes, suffix: str) -> list[tuple[str, ImportKind]]:
    """Every module specifier the source imports, in order, with its kind."""
    tree = Parser(language_for(suffix)).parse(source)
    found: list[tuple[str, ImportKind]] = []
    for node in _walk(tree.root_node):
        spec: str | None = None
        kind = ImportKind.RUNTIME
        if node.type in ("import_statement", "export_statement"):
            spec = _string_value(node.child_by_field_name("source"))
            if any(c.type == "type" for c in node.children):
                kind = ImportKind.TYPE_CHECKING
        elif node.type == "import_require_clause":
            spec = _string_value(node.child_by_field_name("source")) or _string_value(
                next((c for c in node.children if c.type == "string"), None)
            )
        elif node.type == "call_expression":
            fn = node.child_by_field_name("function")
            is_require = fn is not None and fn.type == "identifier" and fn.text == b"require"
            if fn is not None and (fn.type == "import" or is_require):
                spec = _string_value(_first_arg(node))
        if spec:
            found.append((spec, kind))
    return found


def _strip_jsonc(text: str) -> str:
    """tsconfig.json allows comments and trailing commas; drop them outside strings."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    joined = "".join(out)
    for closer in ("}", "]"):
        joined = _drop_trailing_commas(joined, closer)
    return joined


def _drop_trailing_commas(text: str, closer: str) -> str:
    parts = text.split(closer)
    return closer.join(p.rstrip().removesuffix(",") if i < len(parts) - 1 else p for i, p in enumerate(parts))


class TsConfig:
    """`compilerOptions.baseUrl` and `paths` of the project's tsconfig.json (or jsconfig.json)."""

    def __init__(self, root: Path) -> None:
        self.base: str | None = None
        self.paths: list[tuple[str, list[str]]] = []
        for name in ("tsconfig.json", "jsconfig.json"):
            file = root / name
            if file.is_file():
                options = json.loads(_strip_jsonc(file.read_text())).get("compilerOptions", {})
                base_url = options.get("baseUrl")
                self.base = posixpath.normpath(base_url) if base_url else None
                paths_base = self.base or "."
                self.paths = [
                    (pattern, [posixpath.normpath(posixpath.join(paths_base, t)) for t in targets])
                    for pattern, targets in (options.get("paths") or {}).items()
                ]
                break

    def candidates(self, spec: str) -> list[str]:
        """Project-relative bases a non-relative specifier may mean, in TypeScript's order."""
        found: list[str] = []
        for pattern, targets in self.paths:
            if "*" in pattern:
                head, tail = pattern.split("*", 1)
                if spec.startswith(head) and spec.endswith(tail) and len(spec) >= len(head) + len(tail):
                    star = spec[len(head) : len(spec) - len(tail)]
                    found += [t.replace("*", star, 1) for t in targets]
            elif spec == pattern:
                found += targets
        if self.base is not None:
            found.append(posixpath.normpath(posixpath.join(self.base, spec)))
        return found


def resolve(base: str, files: frozenset[str]) -> str | None:
    """A project-relative base path as a file: itself, with an extension, `.js`→`.ts`, or index.*"""
    if base in files:
        return base
    for ext in RESOLVE_EXTENSIONS:
        if base + ext in files:
            return base + ext
    stem, dot, ext = base.rpartition(".")
    if dot and "." + ext in (".js", ".jsx", ".mjs", ".cjs"):
        for alt in (".ts", ".tsx", ".d.ts", ".mts", ".cts"):
            if stem + alt in files:
                return stem + alt
    for ext in RESOLVE_EXTENSIONS:
        if f"{base}/index{ext}" in files:
            return f"{base}/index{ext}"
    return None


def js_edges(root: Path, rel_files: list[str], all_files: frozenset[str]) -> tuple[list[FileEdge], list[str]]:
    """Edges from the JS/TS files in `rel_files` to any project file; plus unresolved local imports."""
    config = TsConfig(root)
    edges: list[FileEdge] = []
    unresolved: list[str] = []
    for rel in rel_files:
        kinds: dict[str, ImportKind] = {}
        for spec, kind in specifiers((root / rel).read_bytes(), Path(rel).suffix):
            relative = spec.startswith(("./", "../")) or spec in (".", "..")
            bases = (
                [posixpath.normpath(posixpath.join(posixpath.dirname(rel), spec))]
                if relative
                else config.candidates(spec)
            )
            target = next((t for t in (resolve(b, all_files) for b in bases) if t), None)
            if target is None:
                if relative:
                    unresolved.append(f"{rel}: {spec}")
                continue
            if target != rel and kinds.get(target) != ImportKind.RUNTIME:
                kinds[target] = kind
        edges += [FileEdge(source=rel, target=t, kind=k) for t, k in sorted(kinds.items())]
    return edges, unresolved
