"""`coderunner config …` as a user runs it: exit codes, masked output, secrets only via stdin or a file,
import all-or-nothing, reveal asks and is audited, audit verify catches tampering."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli.app import app
from tests.cli_helpers import coderunner

MARKER = "cli-MARKER-91d3f0"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for var in ("CODERUNNER_DATABASE_URL", "CODERUNNER_MASTER_KEY", "CODERUNNER_MASTER_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CODERUNNER_HOME", str(tmp_path))
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, ["config", *args], input=stdin)
        return result.exit_code, result.output

    return invoke


P = ["-p", "shop", "-e", "production"]


def db_dump(home: Path) -> str:
    with sqlite3.connect(home / "coderunner.sqlite") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f"SELECT * FROM {t}"))


def test_set_get_list_unset_history_rollback(run, tmp_path: Path) -> None:
    assert run("set", "LOG_LEVEL=debug", "URL=http://x/?a=b", *P, "-r", "first") == (
        0,
        "shop/production: v1 (LOG_LEVEL, URL set)\n",
    )
    code, out = run("set", "API_KEY", "--secret", *P, "-d", "payments key", stdin=MARKER + "\n")
    assert (code, out) == (0, "shop/production: v2 (API_KEY set)\n")
    code, out = run("list", *P)
    assert (
        code == 0 and "API_KEY" in out and "********" in out and "payments key" in out and MARKER not in out
    )
    assert run("get", "URL", *P) == (0, "http://x/?a=b\n")
    assert run("get", "API_KEY", *P) == (0, "********\n")
    assert run("unset", "LOG_LEVEL", *P) == (0, "shop/production: v3 (LOG_LEVEL removed)\n")
    code, out = run("history", *P)
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["v3", "v2", "v1"]
    assert run("rollback", *P, "--to", "1") == (0, "shop/production: v4 (= v1)\n")
    assert run("get", "LOG_LEVEL", *P) == (0, "debug\n")
    code, out = run("diff", *P, "--from", "2", "--to", "3")
    assert (code, out) == (0, "- LOG_LEVEL: debug -> \n")
    assert MARKER not in db_dump(tmp_path)


def test_secret_from_a_file_and_reveal_asks_and_is_audited(run, tmp_path: Path) -> None:
    secret_file = tmp_path / "key.txt"
    secret_file.write_text(MARKER)
    assert run("set", "API_KEY", "--secret", "--from-file", str(secret_file), *P)[0] == 0
    code, out = run("get", "API_KEY", *P, "--reveal", stdin="n\n")
    assert code == 2 and MARKER not in out
    code, out = run("get", "API_KEY", *P, "--reveal", "-r", "debugging", stdin="y\n")
    assert code == 0 and out.splitlines()[-1] == MARKER
    code, out = run("audit", "-p", "shop")
    assert code == 0 and "reveal" in out and "debugging" in out and MARKER not in out
    assert run("audit", "verify") == (0, "audit log intact: 2 rows\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "A=1", "-p", "shop", "-e", "prod"], "--env: unknown environment 'prod'"),
        (["set", "1BAD=1", *P], "KEY: '1BAD' is not a valid key"),
        (["set", "PORT=1", *P], "set by the sandbox"),
        (["set", "NOEQUALS", *P], "KEY=VALUE: 'NOEQUALS' has no '='"),
        (["set", f"API_KEY={MARKER}", "--secret", *P], "--secret: give only the KEY"),
        (["set", "A=" + "x" * 70_000, *P], "the limit is 65536"),
        (["set", "A=1", "-p", "Shop!", "-e", "production"], "--project: 'Shop!' is not a valid name"),
        (["get", "NOPE", *P], "KEY: 'NOPE' is not set"),
        (["list", "-p", "nope", "-e", "production"], "--project: unknown project 'nope'"),
        (["rollback", *P, "--to", "7"], "--version: shop/production has versions 1..1"),
        (["export", *P, "-o", "xml"], "-o/--output: 'xml' is not a format"),
        (["export", *P, "-o", "prod.env"], "to write a file use --file prod.env"),
        (["export", *P, "-f", "json"], "the format is -o json"),
        (["template", "apply", "rails", *P], "NAME: unknown template 'rails'"),
        (["unset", "GHOST", *P], "KEY: 'GHOST' is not set"),
    ],
)
def test_bad_input_exits_2_naming_the_field_and_changes_nothing(
    run, tmp_path: Path, args: list[str], message: str
) -> None:
    assert run("set", "A=1", *P)[0] == 0
    before = db_dump(tmp_path)
    code, out = run(*args)
    assert code == 2, out
    assert message in out and MARKER not in out
    assert db_dump(tmp_path) == before


def test_export_import_roundtrip_and_import_is_all_or_nothing(run, tmp_path: Path) -> None:
    run("set", "A=line1\nline2", "B=x # y = z", *P)
    run("set", "S", "--secret", *P, stdin="s'e\"c=r#et\n\n")
    for fmt in ("json", "yaml", "env"):
        out_file = tmp_path / f"prod.{fmt}"
        assert run("export", *P, "-o", fmt, "--reveal", "--yes", "--file", str(out_file))[0] == 0
        assert oct(out_file.stat().st_mode & 0o777) == "0o600"
        assert run("import", str(out_file), "-p", "shop", "-e", "staging")[0] == 0
        assert run("diff", *P, "--against-env", "staging") == (0, "no differences\n")
    masked = run("export", *P, "-o", "json")[1]
    assert json.loads(masked)["entries"][2]["value"] == "********"
    (tmp_path / "masked.json").write_text(masked)
    before = db_dump(tmp_path)
    code, out = run("import", str(tmp_path / "masked.json"), "-p", "shop", "-e", "staging")
    assert code == 2 and "entries[2] (S).value: secret S is masked" in out
    bad = tmp_path / "bad.env"
    bad.write_text('GOOD="1"\nALSO="2"\n9BAD="3"\n')
    code, out = run("import", str(bad), "-p", "shop", "-e", "staging")
    assert code == 2 and "9BAD" in out
    assert db_dump(tmp_path) == before


def test_templates(run) -> None:
    code, out = run("template", "list")
    assert code == 0 and all(name in out for name in ("node:", "react:", "python:", "postgres:"))
    run("set", "PGHOST=db.internal", *P)
    code, out = run("template", "apply", "postgres", *P)
    assert code == 0 and "PGHOST" not in out and "PGPASSWORD" in out
    assert run("get", "PGHOST", *P) == (0, "db.internal\n")  # not overwritten
    code, out = run("list", *P)
    assert "PGPASSWORD                   secret" in out and "libpq" not in out


def test_audit_verify_exits_1_on_a_tampered_row(run, tmp_path: Path) -> None:
    for i in range(3):
        run("set", f"A={i}", *P)
    with sqlite3.connect(tmp_path / "coderunner.sqlite") as conn:
        conn.execute("UPDATE config_audit SET actor='mallory' WHERE seq=2")
    code, out = run("audit", "verify")
    assert code == 1 and "TAMPERED: row 2: content does not match its hash (edited)" in out


def test_rotate_key_keeps_secrets_readable(run, tmp_path: Path) -> None:
    run("set", "S", "--secret", *P, stdin=MARKER)
    old = json.loads((tmp_path / "master.keys").read_text())["active"]
    code, out = run("rotate-key", "-r", "yearly")
    assert code == 0 and f"retired: {old}" in out
    assert old not in (tmp_path / "master.keys").read_text()
    assert run("get", "S", *P, "--reveal", "--yes")[1].splitlines()[-1] == MARKER
    (tmp_path / "master.keys").rename(tmp_path / "gone.keys")
    code, out = run("get", "S", *P, "--reveal", "--yes")
    assert code == 1 and "master key missing" in out and "master.keys" in out


def test_real_console_script_reads_the_secret_from_stdin(tmp_path: Path) -> None:
    env = {"CODERUNNER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "config", "set", "TOKEN", "--secret", *P],
        input=MARKER,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert done.returncode == 0 and MARKER not in done.stdout + done.stderr
    listed = coderunner("config", "list", *P, env=env)
    assert listed.returncode == 0 and "TOKEN" in listed.stdout and MARKER not in listed.stdout
