"""Pure config logic: apply a write to a snapshot's entries, and diff two snapshots with secrets masked.

Pure so the same function answers `config diff`, the import dry-run and the store's write path, and
so its edge cases are table-tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from coderunner.models.configstore import MASK, ConfigChange, ConfigEntry, DiffKind, DiffLine


def apply_changes(entries: Sequence[ConfigEntry], changes: Sequence[ConfigChange]) -> list[ConfigEntry]:
    """The entries after `changes` in order; a set keeps the old description unless given one.

    Raises KeyError naming the key when an unset targets a key that does not exist.
    """
    current = {e.key: e for e in entries}
    for change in changes:
        if change.remove:
            if change.key not in current:
                raise KeyError(change.key)
            del current[change.key]
            continue
        before = current.get(change.key)
        description = change.description
        if description is None:
            description = before.description if before else ""
        current[change.key] = ConfigEntry(
            key=change.key, value=change.value or "", secret=change.secret, description=description
        )
    return [current[k] for k in sorted(current)]


def _shown(entry: ConfigEntry | None) -> str | None:
    if entry is None:
        return None
    return MASK if entry.secret else entry.value


def diff_entries(
    old: Sequence[ConfigEntry],
    new: Sequence[ConfigEntry],
    old_hashes: Mapping[str, str] | None = None,
    new_hashes: Mapping[str, str] | None = None,
) -> list[DiffLine]:
    """Keys added, removed or changed from `old` to `new`, by key; secrets never shown.

    Secrets are compared by their keyed hashes when given (no decryption needed), else by value.
    """
    before = {e.key: e for e in old}
    after = {e.key: e for e in new}
    lines: list[DiffLine] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            kind = DiffKind.ADDED if a is None else DiffKind.REMOVED
            present = b or a
            assert present is not None
            lines.append(DiffLine(key=key, kind=kind, secret=present.secret, old=_shown(a), new=_shown(b)))
            continue
        if old_hashes is not None and new_hashes is not None and key in old_hashes and key in new_hashes:
            same_value = old_hashes[key] == new_hashes[key]
        else:
            same_value = a.value == b.value
        if same_value and a.secret == b.secret and a.description == b.description:
            continue
        lines.append(
            DiffLine(
                key=key, kind=DiffKind.CHANGED, secret=a.secret or b.secret, old=_shown(a), new=_shown(b)
            )
        )
    return lines
