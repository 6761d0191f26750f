"""Export and import of one environment as JSON, YAML or .env — exact round trips, validated imports.

Export writes every entry (key, value, secret flag, description); secrets are masked unless the
caller revealed them. Import parses and validates the WHOLE file first (every error names its
field), so a bad file changes nothing. `.env` is written with double-quoted, escaped values so
python-dotenv reads it back exactly (with interpolation off, since `${X}` would otherwise expand);
the secret flag and descriptions travel as `# @secret` / `# @description:` comment lines that
other tools ignore.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from dotenv.parser import parse_stream
from pydantic import ValidationError

from coderunner.models.configstore import MASK, ConfigEntry, ConfigSnapshot

_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}
SECRET_TAG = "# @secret"
DESCRIPTION_TAG = "# @description: "


class Format(StrEnum):
    JSON = "json"
    YAML = "yaml"
    ENV = "env"


class ImportError_(ValueError):
    """A file that cannot be imported; the message names the line or field and the fix."""


def format_for(path: str, given: str | None) -> Format:
    if given:
        return Format(given)
    lower = path.lower()
    if lower.endswith((".yaml", ".yml")):
        return Format.YAML
    if lower.endswith(".json"):
        return Format.JSON
    return Format.ENV


# ---- export ---------------------------------------------------------------------------------------


def export(snapshot: ConfigSnapshot, fmt: Format) -> str:
    """The snapshot as text; a masked snapshot exports masked values (MASK)."""
    entries = [_shown(e) for e in snapshot.entries]
    if fmt == Format.ENV:
        return _export_env(snapshot, entries)
    body = {
        "project": snapshot.project,
        "environment": snapshot.environment,
        "version": snapshot.version,
        "entries": [e.model_dump() for e in entries],
    }
    if fmt == Format.JSON:
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(body, Dumper=_QuotingDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


class _QuotingDumper(yaml.SafeDumper):
    """Every string double-quoted and escaped: as plain scalars, U+0085, U+2028 and friends would
    read back as line breaks."""


def _quoted_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


_QuotingDumper.add_representer(str, _quoted_str)


def _shown(entry: ConfigEntry) -> ConfigEntry:
    return entry if entry.value is not None else entry.masked()


def dotenv_quote(value: str) -> str:
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def _export_env(snapshot: ConfigSnapshot, entries: Sequence[ConfigEntry]) -> str:
    lines = [f"# coderunner config {snapshot.project}/{snapshot.environment} v{snapshot.version}"]
    for entry in entries:
        if entry.description:
            lines.append(DESCRIPTION_TAG + entry.description)
        if entry.secret:
            lines.append(SECRET_TAG)
        lines.append(f"{entry.key}={dotenv_quote(entry.value or '')}")
    return "\n".join(lines) + "\n"


# ---- import ---------------------------------------------------------------------------------------


def parse(text: str, fmt: Format) -> list[ConfigEntry]:
    """Entries of an export file, fully validated; raises ImportError_ naming what is wrong."""
    raw = _parse_env(text) if fmt == Format.ENV else _parse_document(text, fmt)
    entries: list[ConfigEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"entries[{index}]"
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            where = f"{where} ({item['key']})"
        try:
            entry = ConfigEntry.model_validate(item, strict=False)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "entry"
            raise ImportError_(f"{where}.{field}: {first['msg']}") from None
        if entry.key in seen:
            raise ImportError_(f"{where}.key: {entry.key} appears twice")
        if entry.secret and entry.value == MASK:
            raise ImportError_(
                f"{where}.value: secret {entry.key} is masked in this file — "
                "export with --reveal to move secrets"
            )
        if entry.value is None:
            raise ImportError_(f"{where}.value: missing")
        seen.add(entry.key)
        entries.append(entry)
    return entries


def _parse_document(text: str, fmt: Format) -> list[Any]:
    try:
        doc = json.loads(text) if fmt == Format.JSON else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ImportError_(f"file: not valid {fmt.value.upper()}: {str(err).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise ImportError_('file: expected a mapping with an "entries" list (as `config export` writes)')
    unknown = set(doc) - {"project", "environment", "version", "entries"}
    if unknown:
        raise ImportError_(f"file: unknown top-level field(s) {sorted(unknown)}")
    for index, item in enumerate(doc["entries"]):
        if not isinstance(item, dict):
            raise ImportError_(f"entries[{index}]: expected a mapping with key, value, secret, description")
        extra = set(item) - {"key", "value", "secret", "description"}
        if extra:
            raise ImportError_(f"entries[{index}]: unknown field(s) {sorted(extra)}")
        if not isinstance(item.get("value", ""), str):
            raise ImportError_(f"entries[{index}].value: must be a string (quote it)")
    return list(doc["entries"])


def _parse_env(text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    secret, description = False, ""
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            raise ImportError_(f"line {line}: not a KEY=value line: {binding.original.string.strip()[:60]!r}")
        if binding.key is None:
            comment = binding.original.string.strip()
            if comment == SECRET_TAG:
                secret = True
            elif comment.startswith(DESCRIPTION_TAG):
                description = comment[len(DESCRIPTION_TAG) :]
            continue
        if binding.value is None:
            raise ImportError_(f"line {line}: {binding.key} has no '=' and no value")
        items.append(
            {"key": binding.key, "value": binding.value, "secret": secret, "description": description}
        )
        secret, description = False, ""
    return items
