"""`coderunner config …`: per-environment variables and secrets, versioned, encrypted and audited.

Works on the app database and the master key directly (no running stack needed). A secret's value
is read from stdin or --from-file, never from the command line; output shows secrets masked except
`get --reveal` and `export --reveal`, which ask first and are audited.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from coderunner.config.settings import StackNotRunning
from coderunner.configstore.formats import Format, format_for
from coderunner.configstore.templates import TEMPLATES
from coderunner.models.configstore import MASK, ConfigEntry
from starter.cli.common import Home, Reason, fail, op, sub_app
from starter.sdk.configs import Configs
from starter.sdk.errors import OperationError, UserError

T = TypeVar("T")
app = sub_app(__doc__)
template_app = sub_app("Documented starter variable sets: list, apply NAME.")
audit_app = sub_app("The config audit log: list (default) and verify the hash chain.")
env_app = sub_app("Environments of a project (development, staging, production by default).")
audit_app.info.no_args_is_help = False  # bare `config audit` lists the log
app.add_typer(template_app, name="template")
app.add_typer(audit_app, name="audit")
app.add_typer(env_app, name="env")

Project = Annotated[
    str, typer.Option("--project", "-p", envvar="CODERUNNER_PROJECT", help="project (an app)")
]
Env = Annotated[
    str, typer.Option("--env", "-e", envvar="CODERUNNER_ENV", help="environment, e.g. production")
]
Version = Annotated[int | None, typer.Option("--version", "-v", help="a version (default: the latest)")]
Expect = Annotated[
    int | None, typer.Option("--expect-version", help="check-and-set: refuse unless the head is this version")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
NoRelease = Annotated[
    bool, typer.Option("--no-release", help="do not roll the new version out to following deployments")
]


def _call(home: str | None, fn: Callable[[Configs], T]) -> T:
    try:
        return fn(Configs.open(home))
    except (UserError, OperationError) as err:
        fail(err, err.exit_code)


def _line(entry: ConfigEntry) -> str:
    value = MASK if entry.secret else entry.value
    kind = "secret" if entry.secret else "var"
    return f"{entry.key:<28} {kind:<7} {value}" + (f"    # {entry.description}" if entry.description else "")


def _release(home: str | None, project: str, env: str, version: int | None, reason: str) -> None:
    """Roll a new version out (as canaries) to the deployments that follow this environment.
    Without a running stack there is no deployment to move: say nothing."""
    try:
        outcomes = asyncio.run(
            op(home, lambda cr: cr.config_releases.release(project, env, version, reason=reason))
        )
    except StackNotRunning:
        return
    except (UserError, OperationError) as err:
        fail(err, err.exit_code)
    for o in outcomes:
        where = f" — {o.workflow_id}" if o.workflow_id else ""
        typer.echo(f"  {o.deployment}: {o.action} ({o.detail}){where}")


def _read_secret(key: str, from_file: Path | None) -> str:
    if from_file is not None:
        try:
            return from_file.read_text().removesuffix("\n")
        except OSError as err:
            fail(UserError(f"--from-file: cannot read {from_file}: {err.strerror}"), 2)
    if sys.stdin.isatty():
        return typer.prompt(f"value of {key}", hide_input=True)
    return sys.stdin.read().removesuffix("\n")


@app.command("set")
def set_(
    assignments: Annotated[list[str], typer.Argument(help="KEY=VALUE … (with --secret: KEY only)")],
    project: Project,
    env: Env,
    secret: Annotated[
        bool, typer.Option("--secret", help="encrypt; value from stdin or --from-file")
    ] = False,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="read the secret's value here")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="what it is for")] = None,
    reason: Reason = "",
    expect: Expect = None,
    no_release: NoRelease = False,
    home: Home = None,
) -> None:
    """Set variables (KEY=VALUE …) or one secret (KEY --secret < value): a new version, released
    as a canary to every deployment following the environment (unless --no-release)."""
    if secret:
        if len(assignments) != 1 or "=" in assignments[0]:
            fail(
                UserError(
                    "--secret: give only the KEY; a secret's value never goes on the command line "
                    "(pipe it on stdin or use --from-file PATH)"
                ),
                2,
            )
        values = {assignments[0]: _read_secret(assignments[0], from_file)}
    else:
        bad = [a for a in assignments if "=" not in a]
        if bad:
            fail(UserError(f"KEY=VALUE: {bad[0]!r} has no '=' (for a secret use --secret)"), 2)
        values = dict(a.split("=", 1) for a in assignments)
    version = _call(home, lambda c: c.set(project, env, values, reason, secret, description, expect))
    typer.echo(f"{project}/{env}: v{version} ({', '.join(values)} set)")
    if not no_release:
        _release(home, project, env, version, reason)


@app.command()
def unset(
    keys: Annotated[list[str], typer.Argument(help="keys to remove")],
    project: Project,
    env: Env,
    reason: Reason = "",
    expect: Expect = None,
    no_release: NoRelease = False,
    home: Home = None,
) -> None:
    """Remove keys: a new version without them (released like `set`)."""
    version = _call(home, lambda c: c.unset(project, env, keys, reason, expect))
    typer.echo(f"{project}/{env}: v{version} ({', '.join(keys)} removed)")
    if not no_release:
        _release(home, project, env, version, reason)


@app.command()
def get(
    key: str,
    project: Project,
    env: Env,
    version: Version = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="print a secret in plaintext (audited)")] = False,
    yes: Yes = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """One key; a secret stays masked unless --reveal (asks first, recorded in the audit log)."""
    configs = _call(home, lambda c: c)
    snap = _call(home, lambda c: c.snapshot(project, env, version))
    entry = next((e for e in snap.entries if e.key == key), None)
    if entry is None:
        fail(UserError(f"KEY: {key!r} is not set in {project}/{env} v{snap.version}"), 2)
    if not entry.secret or not reveal:
        typer.echo(MASK if entry.secret else entry.value)
        return
    if not yes and not typer.confirm(f"print secret {key} of {project}/{env} in plaintext?", err=True):
        fail(UserError("not revealed (answer y, or pass --yes)"), 2)
    typer.echo(_call(home, lambda _c: configs.reveal(project, env, key, reason, snap.version)).value)


@app.command("list")
def list_(project: Project, env: Env, version: Version = None, home: Home = None) -> None:
    """Every key of a version, secrets masked."""
    snap = _call(home, lambda c: c.snapshot(project, env, version))
    typer.echo(
        f"{project}/{env} v{snap.version}" + (f" — {snap.actor}: {snap.reason}" if snap.reason else "")
    )
    for entry in snap.entries:
        typer.echo("  " + _line(entry))


@app.command()
def history(project: Project, env: Env, home: Home = None) -> None:
    """Versions, newest first: when, who, why, how many keys."""
    for v in _call(home, lambda c: c.history(project, env)):
        back = f" (= v{v.rollback_of})" if v.rollback_of else ""
        when = f"{v.created_at:%Y-%m-%d %H:%M:%S}"
        typer.echo(f"v{v.version:<4} {when} {v.actor:<20} {v.keys:>3} keys{back}  {v.reason}")


@app.command()
def diff(
    project: Project,
    env: Env,
    from_version: Annotated[int | None, typer.Option("--from", help="old version (default: head)")] = None,
    to_version: Annotated[int | None, typer.Option("--to", help="new version (default: head)")] = None,
    against: Annotated[
        str | None, typer.Option("--against-env", help="compare with another environment")
    ] = None,
    home: Home = None,
) -> None:
    """What changed between two versions, or between two environments; secret values never shown."""
    lines = _call(home, lambda c: c.diff(project, env, from_version, against, to_version))
    for d in lines:
        mark = {"added": "+", "removed": "-", "changed": "~"}[d.kind.value]
        typer.echo(
            f"{mark} {d.key}: {d.old if d.old is not None else ''} -> {d.new if d.new is not None else ''}"
        )
    if not lines:
        typer.echo("no differences")


@app.command()
def rollback(
    project: Project,
    env: Env,
    to: Annotated[int, typer.Option("--to", help="the version to go back to")],
    reason: Reason = "",
    no_release: NoRelease = False,
    home: Home = None,
) -> None:
    """Write a new version equal to version --to (history is kept), released like `set`."""
    version = _call(home, lambda c: c.rollback(project, env, to, reason))
    typer.echo(f"{project}/{env}: v{version} (= v{to})")
    if not no_release:
        _release(home, project, env, version, reason)


@app.command()
def release(
    project: Project, env: Env, version: Version = None, reason: Reason = "", home: Home = None
) -> None:
    """Roll a config version (default: the latest) out as a canary to every deployment that follows
    the environment; pinned and opted-out deployments are listed as skipped."""
    _release(home, project, env, version, reason)


EXPORT_FORMATS = ", ".join(f.value for f in Format)


@app.command("export")
def export_(
    project: Project,
    env: Env,
    output: Annotated[
        str, typer.Option("--output", "-o", "--format", help="json | yaml | env: the format, as everywhere")
    ] = "env",
    file: Annotated[Path | None, typer.Option("--file", "-f", help="write here (0600) not stdout")] = None,
    version: Version = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="secrets in plaintext (asks; audited)")] = False,
    yes: Yes = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """An environment as JSON, YAML or .env (`-o`); secrets masked unless --reveal; `--file` writes a file."""
    check_export_flags(output, file)
    if reveal and not yes and not typer.confirm(f"export secrets of {project}/{env} in plaintext?", err=True):
        fail(UserError("not exported (answer y, or pass --yes)"), 2)
    text = _call(home, lambda c: c.export_text(project, env, Format(output), reveal, version, reason))
    if file is None:
        typer.echo(text, nl=False)
        return
    file.touch(mode=0o600)
    file.write_text(text)
    typer.echo(f"wrote {file}")


def check_export_flags(output: str, file: Path | None) -> None:
    """`-o` is the format, as in every other command; the old `-o FILE` / `-f FORMAT` get a clear error."""
    if output not in {f.value for f in Format}:
        hint = (f"; to write a file use --file {output}" if "." in output or "/" in output else "")
        fail(UserError(f"-o/--output: {output!r} is not a format — use one of {EXPORT_FORMATS}{hint}"), 2)
    if file is not None and str(file) in {f.value for f in Format}:
        fail(UserError(f"--file/-f: {str(file)!r} is a format, not a file — the format is -o {file}, "
                       "the file --file PATH"), 2)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="a file written by `config export` (.json, .yaml, .env)")],
    project: Project,
    env: Env,
    fmt: Annotated[
        str | None, typer.Option("--format", help="json | yaml | env (default: by suffix)")
    ] = None,
    reason: Reason = "",
    no_release: NoRelease = False,
    home: Home = None,
) -> None:
    """Make an environment exactly the file's content, as one new version; any error changes nothing."""
    if fmt is not None and fmt not in {f.value for f in Format}:
        fail(UserError(f"--format: {fmt!r} is not one of json, yaml, env"), 2)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        fail(UserError(f"PATH: cannot read {path}: {err}"), 2)
    version = _call(home, lambda c: c.import_text(project, env, text, format_for(str(path), fmt), reason))
    typer.echo(f"{project}/{env}: v{version} imported from {path}")
    if not no_release:
        _release(home, project, env, version, reason)


@app.command("rotate-key")
def rotate_key(
    codec: Annotated[
        bool, typer.Option("--codec", help="rotate the Temporal payload codec key instead")
    ] = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """A new master key: every data key re-wrapped, the old key retired once nothing uses it."""
    if codec:
        typer.echo(_call(home, lambda c: c.rotate_codec_key()))
        return
    moved, retired = _call(home, lambda c: c.rotate_master_key(reason))
    typer.echo(f"{moved} data keys re-wrapped; retired: {', '.join(retired) or 'none'}")


@env_app.command("add")
def env_add(name: str, project: Project, reason: Reason = "", home: Home = None) -> None:
    """Add an environment (e.g. qa, preview-42)."""
    _call(home, lambda c: c.add_environment(project, name, reason))
    typer.echo(f"{project}/{name} added")


@env_app.command("list")
def env_list(project: Project, home: Home = None) -> None:
    """Environments and their latest version."""
    for name, head in _call(home, lambda c: c.environments(project)).items():
        typer.echo(f"{name:<20} v{head}")


@template_app.command("list")
def template_list() -> None:
    """The templates and what they set."""
    for name, (about, entries) in TEMPLATES.items():
        typer.echo(f"{name}: {about}")
        for entry in entries:
            typer.echo("    " + _line(entry))


@template_app.command("apply")
def template_apply(
    name: str,
    project: Project,
    env: Env,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="also replace keys already set")] = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """Add a template's keys that are not set yet (secrets as empty placeholders to fill in)."""
    version, keys = _call(home, lambda c: c.apply_template(project, env, name, overwrite, reason))
    typer.echo(
        f"{project}/{env}: v{version}" + (f" ({', '.join(keys)} added)" if keys else " (nothing to add)")
    )


@audit_app.callback(invoke_without_command=True)
def audit_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 50,
    home: Home = None,
) -> None:
    """Who changed what and why, newest first (values as keyed hashes)."""
    if ctx.invoked_subcommand is not None:
        return
    for e in _call(home, lambda c: c.audit(project, env, limit)):
        typer.echo(
            f"#{e.seq:<5} {e.at:%Y-%m-%d %H:%M:%S} {e.actor:<18} {e.action.value:<16} "
            f"{e.project}/{e.environment} {e.key or '-'} v{e.version} {e.value_hash[:24]}  {e.reason}"
        )


@audit_app.command("verify")
def audit_verify(home: Home = None) -> None:
    """Recompute the hash chain: exit 1 naming every edited or deleted row."""
    report = _call(home, lambda c: c.verify_audit())
    if report.ok:
        typer.echo(f"audit log intact: {report.rows} rows")
        return
    for problem in report.problems:
        typer.echo(f"TAMPERED: {problem}", err=True)
    raise typer.Exit(1)
