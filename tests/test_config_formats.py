"""Export/import round trips (hypothesis, awkward values) and python-dotenv reading our .env exactly;
plus the pure diff/apply table."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coderunner.configstore.formats import Format, ImportError_, export, parse
from coderunner.configstore.keyring import LocalKeyring
from coderunner.configstore.service import ConfigService
from coderunner.decisions.config_diff import apply_changes, diff_entries
from coderunner.models.configstore import MASK, ConfigChange, ConfigEntry, ConfigSnapshot, DiffKind
from coderunner.store.engine import make_engine

AWKWARD = [
    "",
    " ",
    "a=b",
    "x # not a comment",
    "'single'",
    '"double"',
    'mix \'"\\ "',
    "line1\nline2",
    "cr\r\nlf",
    "tab\there",
    "ünïcödé ✓ 🚀",
    "${HOME}",
    "\\n literal",
    "#",
    "=",
    "trailing\\",
]
values = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
)
keys = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True).filter(
    lambda k: k not in {"PORT", "INSTANCE_ID"}
)
descriptions = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"), max_size=30
).map(str.strip)
entries_st = st.dictionaries(keys, st.tuples(values, st.booleans(), descriptions), max_size=8).map(
    lambda d: [
        ConfigEntry(key=k, value=v, secret=s, description=desc) for k, (v, s, desc) in sorted(d.items())
    ]
)


def snap(entries: list[ConfigEntry]) -> ConfigSnapshot:
    return ConfigSnapshot(project="shop", environment="production", version=3, entries=entries)


@given(entries_st)
@settings(max_examples=150, deadline=None)
@pytest.mark.parametrize("fmt", list(Format))
def test_export_then_parse_is_exact(fmt: Format, entries: list[ConfigEntry]) -> None:
    assert parse(export(snap(entries), fmt), fmt) == entries


@given(entries_st)
@settings(max_examples=150, deadline=None)
def test_python_dotenv_reads_our_env_exactly(entries: list[ConfigEntry]) -> None:
    text = export(snap(entries), Format.ENV)
    assert dotenv_values(stream=io.StringIO(text), interpolate=False) == {e.key: e.value for e in entries}
    plain = [e for e in entries if "$" not in (e.value or "")]  # with interpolation on, ${X} expands
    text = export(snap(plain), Format.ENV)
    assert dotenv_values(stream=io.StringIO(text)) == {e.key: e.value for e in plain}


def test_dotenv_reads_our_file_from_disk_exactly(tmp_path: Path) -> None:
    entries = [ConfigEntry(key=f"K{i}", value=v) for i, v in enumerate(AWKWARD)]
    path = tmp_path / "x.env"
    path.write_text(export(snap(entries), Format.ENV), newline="")
    assert dotenv_values(path, interpolate=False) == {e.key: e.value for e in entries}


@given(entries_st)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_export_import_through_the_service_reproduces_the_environment(
    tmp_path: Path, entries: list[ConfigEntry]
) -> None:
    svc = ConfigService(
        make_engine(f"sqlite:///{tmp_path / 'rt.sqlite'}"), LocalKeyring.load(tmp_path, create=True)
    )
    svc.replace("shop", "production", entries, "a") if entries else svc.ensure_project("shop", "a")
    for fmt in Format:
        text = export(svc.snapshot("shop", "production", reveal=True), fmt)
        svc.replace("shop", "staging", parse(text, fmt), "a", f"import {fmt}")
        assert (
            svc.snapshot("shop", "staging", reveal=True).entries
            == svc.snapshot("shop", "production", reveal=True).entries
        )


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        (Format.JSON, "{not json", "file: not valid JSON"),
        (Format.YAML, "entries: [a: b: c]", "file: not valid YAML"),
        (Format.JSON, '{"entries": {}}', 'expected a mapping with an "entries" list'),
        (Format.JSON, '{"entries": [], "extra": 1}', "unknown top-level field"),
        (Format.JSON, '{"entries": [{"key": "1A", "value": "x"}]}', r"entries\[0\] \(1A\)\.key"),
        (Format.JSON, '{"entries": [{"key": "A", "value": 5}]}', r"entries\[0\]\.value: must be a string"),
        (Format.JSON, '{"entries": [{"key": "A", "value": "x", "oops": 1}]}', "unknown field"),
        (
            Format.JSON,
            '{"entries": [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]}',
            "appears twice",
        ),
        (Format.JSON, '{"entries": [{"key": "S", "value": "' + MASK + '", "secret": true}]}', "is masked"),
        (Format.JSON, '{"entries": [{"key": "A", "value": "' + "x" * 70_000 + '"}]}', "the limit is 65536"),
        (Format.JSON, '{"entries": [{"key": "PORT", "value": "1"}]}', "set by the sandbox"),
        (Format.ENV, 'A="1"\nB="unterminated\n', "line 2: not a KEY=value line"),
        (Format.ENV, "A=1\nJUSTAKEY\n", "line 2: JUSTAKEY has no '='"),
    ],
)
def test_malformed_imports_name_the_problem(fmt: Format, text: str, message: str) -> None:
    with pytest.raises(ImportError_, match=message):
        parse(text, fmt)


def e(key: str, value: str, secret: bool = False, description: str = "") -> ConfigEntry:
    return ConfigEntry(key=key, value=value, secret=secret, description=description)


@pytest.mark.parametrize(
    ("before", "changes", "after"),
    [
        ([], [ConfigChange(key="A", value="1")], [e("A", "1")]),
        ([e("A", "1", description="d")], [ConfigChange(key="A", value="2")], [e("A", "2", description="d")]),
        ([e("A", "1", description="d")], [ConfigChange(key="A", value="2", description="")], [e("A", "2")]),
        ([e("B", "1"), e("A", "2")], [ConfigChange(key="B", remove=True)], [e("A", "2")]),
        ([e("A", "1")], [ConfigChange(key="A", value="s", secret=True)], [e("A", "s", secret=True)]),
        (
            [],
            [ConfigChange(key="B", value="1"), ConfigChange(key="A", value="2")],
            [e("A", "2"), e("B", "1")],
        ),
    ],
)
def test_apply_changes(
    before: list[ConfigEntry], changes: list[ConfigChange], after: list[ConfigEntry]
) -> None:
    assert apply_changes(before, changes) == after


def test_unset_of_a_missing_key_names_it() -> None:
    with pytest.raises(KeyError, match="NOPE"):
        apply_changes([e("A", "1")], [ConfigChange(key="NOPE", remove=True)])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([e("A", "1")], [e("A", "1")], []),
        ([e("A", "1")], [e("A", "2")], [("A", DiffKind.CHANGED, "1", "2")]),
        ([e("S", "x", True)], [e("S", "y", True)], [("S", DiffKind.CHANGED, MASK, MASK)]),
        ([], [e("S", "x", True)], [("S", DiffKind.ADDED, None, MASK)]),
        ([e("A", "1")], [], [("A", DiffKind.REMOVED, "1", None)]),
        ([e("A", "1")], [e("A", "1", True)], [("A", DiffKind.CHANGED, "1", MASK)]),
        ([e("A", "1", description="x")], [e("A", "1")], [("A", DiffKind.CHANGED, "1", "1")]),
    ],
)
def test_diff_entries_masks_secrets(old: list[ConfigEntry], new: list[ConfigEntry], expected: list) -> None:
    assert [(d.key, d.kind, d.old, d.new) for d in diff_entries(old, new)] == expected
