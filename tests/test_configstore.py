"""The config service on SQLite and PostgreSQL: versions, check-and-set, rollback, masked diffs,
envelope encryption (tamper, moved ciphertext, wrong/missing master key, rotation) and the audit chain."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from coderunner.configstore.crypto import TamperedCiphertext
from coderunner.configstore.errors import ConfigInputError, VersionConflict
from coderunner.configstore.keyring import ENV_FILE, ENV_KEY, LocalKeyring, MasterKeyError
from coderunner.configstore.service import ConfigService
from coderunner.configstore.tables import ConfigValue
from coderunner.models.configstore import MASK, ConfigChange, ConfigEntry, DiffKind
from coderunner.store.engine import make_engine
from tests.test_store import postgres_url  # noqa: F401  (the session's PostgreSQL database fixture)

MARKER = "cfg-MARKER-4b9e2a"
CONFIG_TABLES = [
    "config_values",
    "config_versions",
    "config_environments",
    "config_projects",
    "config_data_keys",
    "config_audit",
    "config_audit_head",
]


def _clean(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in CONFIG_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return make_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    engine = make_engine(request.getfixturevalue("postgres_url"))
    ConfigService(engine, LocalKeyring.load(tmp_path, create=True))  # creates the tables
    _clean(engine)
    return engine


@pytest.fixture
def ring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalKeyring:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_FILE, raising=False)
    return LocalKeyring.load(tmp_path, create=True)


@pytest.fixture
def svc(engine: Engine, ring: LocalKeyring) -> ConfigService:
    return ConfigService(engine, ring)


def sets(**values: str) -> list[ConfigChange]:
    return [ConfigChange(key=k, value=v) for k, v in values.items()]


def secret(key: str, value: str) -> ConfigChange:
    return ConfigChange(key=key, value=value, secret=True)


def raw_rows(engine: Engine) -> str:
    """Every row of every config table, undecoded, as one string (for plaintext searches)."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(r)) for t in CONFIG_TABLES for r in conn.execute(text(f"SELECT * FROM {t}"))
        )


# ---- model and storage ---------------------------------------------------------------------------


def test_versions_are_immutable_snapshots(svc: ConfigService) -> None:
    assert svc.write("shop", "production", sets(A="1", B="x"), "alice", "first") == 1
    assert svc.write("shop", "production", [*sets(A="2"), ConfigChange(key="B", remove=True)], "bob") == 2
    assert svc.snapshot("shop", "production", 1).values() == {"A": "1", "B": "x"}
    assert svc.snapshot("shop", "production").values() == {"A": "2"}
    assert svc.environments("shop") == {"development": 0, "production": 2, "staging": 0}
    assert [(v.version, v.actor, v.keys) for v in svc.history("shop", "production")] == [
        (2, "bob", 1),
        (1, "alice", 2),
    ]


def test_descriptions_kept_and_environments_added(svc: ConfigService) -> None:
    svc.write("shop", "staging", [ConfigChange(key="A", value="1", description="the A")], "a")
    svc.write("shop", "staging", sets(A="2"), "a")
    assert svc.snapshot("shop", "staging").entries == [ConfigEntry(key="A", value="2", description="the A")]
    svc.add_environment("shop", "qa", "alice")
    assert "qa" in svc.environments("shop")
    with pytest.raises(ConfigInputError, match="--env: environment 'qa' already exists"):
        svc.add_environment("shop", "qa", "alice")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.write("shop", "prod", sets(A="1"), "a"), "--env: unknown environment 'prod'"),
        (lambda s: s.snapshot("nope", "production"), "--project: unknown project 'nope'"),
        (lambda s: s.write("Bad_Name", "production", sets(A="1"), "a"), "--project: 'Bad_Name'"),
        (lambda s: s.snapshot("shop", "production", 9), "--version: shop/production has versions 1..1"),
        (lambda s: s.write("shop", "production", [ConfigChange(key="Z", remove=True)], "a"), "Z"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(
    svc: ConfigService, call: Callable[[ConfigService], object], message: str
) -> None:
    svc.write("shop", "production", sets(A="1"), "a")
    before = raw_rows(svc.engine)
    with pytest.raises((ConfigInputError, KeyError), match=message):
        call(svc)
    assert raw_rows(svc.engine) == before


def test_check_and_set_refuses_a_stale_version(svc: ConfigService) -> None:
    svc.write("shop", "production", sets(A="1"), "a")
    assert svc.write("shop", "production", sets(A="2"), "a", expected_version=1) == 2
    with pytest.raises(VersionConflict, match="at v2, not v1"):
        svc.write("shop", "production", sets(A="3"), "b", expected_version=1)
    assert svc.snapshot("shop", "production").values() == {"A": "2"}


def test_two_concurrent_writers_lose_nothing(svc: ConfigService) -> None:
    svc.write("shop", "production", sets(INIT="0"), "setup")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(12):
                svc.write("shop", "production", [secret(f"{name}_{i}", f"{name}-{i}")], name)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("W1", "W2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    snap = svc.snapshot("shop", "production", reveal=True)
    assert snap.version == 25
    assert snap.values() == {"INIT": "0", **{f"{n}_{i}": f"{n}-{i}" for n in ("W1", "W2") for i in range(12)}}
    assert [v.version for v in svc.history("shop", "production")] == list(range(25, 0, -1))
    assert svc.verify_audit().ok


def test_rollback_writes_a_new_version_equal_to_the_target(svc: ConfigService) -> None:
    svc.write("shop", "production", [*sets(A="1"), secret("S", "one")], "a")
    svc.write("shop", "production", [*sets(A="2", B="new"), secret("S", "two")], "a")
    assert svc.rollback("shop", "production", 1, "alice", "bad release") == 3
    v1, v3 = (svc.snapshot("shop", "production", v, reveal=True) for v in (1, 3))
    assert v3.entries == v1.entries and v3.values() == {"A": "1", "S": "one"}
    assert svc.history("shop", "production")[0].rollback_of == 1
    assert svc.snapshot("shop", "production", 2, reveal=True).values()["S"] == "two"  # history untouched


def test_masked_diff_between_versions_and_environments(svc: ConfigService) -> None:
    svc.write("shop", "production", [*sets(A="1", GONE="x"), secret("S", MARKER), secret("T", "same")], "a")
    svc.write(
        "shop",
        "production",
        [*sets(A="2", NEW="n"), ConfigChange(key="GONE", remove=True), secret("S", MARKER + "2")],
        "a",
    )
    lines = {d.key: d for d in svc.diff("shop", "production", 1, "production", 2)}
    assert {k: d.kind for k, d in lines.items()} == {
        "A": DiffKind.CHANGED,
        "GONE": DiffKind.REMOVED,
        "NEW": DiffKind.ADDED,
        "S": DiffKind.CHANGED,
    }
    assert (lines["A"].old, lines["A"].new) == ("1", "2")
    assert (lines["S"].old, lines["S"].new) == (MASK, MASK)
    svc.write("shop", "staging", [secret("T", "same"), secret("S", "other")], "a")
    across = {d.key: d.kind for d in svc.diff("shop", "staging", None, "production", None)}
    assert across == {"A": DiffKind.ADDED, "NEW": DiffKind.ADDED, "S": DiffKind.CHANGED}  # T: same value
    assert MARKER not in repr(svc.diff("shop", "production", 1, "production", 2))


# ---- envelope encryption -------------------------------------------------------------------------


def test_secrets_never_stored_in_plaintext(svc: ConfigService) -> None:
    svc.write("shop", "production", [secret("API_KEY", MARKER)], "a", "reason")
    svc.write("shop", "production", sets(OTHER="x"), "a")
    svc.reveal("shop", "production", "API_KEY", "a")
    assert MARKER not in raw_rows(svc.engine)
    assert MARKER not in repr(svc.snapshot("shop", "production")) + repr(svc.audit_log())
    assert svc.snapshot("shop", "production", reveal=True).values()["API_KEY"] == MARKER


def _ciphertext(engine: Engine, key: str, version: int) -> str:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT ciphertext FROM config_values WHERE key=:k AND version=:v"), {"k": key, "v": version}
        ).scalar_one()


def _set_ciphertext(engine: Engine, key: str, version: int, value: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE config_values SET ciphertext=:c WHERE key=:k AND version=:v"),
            {"c": value, "k": key, "v": version},
        )


def test_one_flipped_ciphertext_byte_is_detected(svc: ConfigService) -> None:
    svc.write("shop", "production", [secret("S", MARKER)], "a")
    blob = _ciphertext(svc.engine, "S", 1)
    prefix, data = blob.rsplit(":", 1)
    raw = bytearray(base64.b64decode(data))
    raw[20] ^= 0x01
    _set_ciphertext(svc.engine, "S", 1, prefix + ":" + base64.b64encode(bytes(raw)).decode())
    with pytest.raises(TamperedCiphertext, match="shop/production/S@v1: ciphertext fails authentication"):
        svc.snapshot("shop", "production", reveal=True)


def test_a_ciphertext_moved_to_another_key_does_not_decrypt(svc: ConfigService) -> None:
    svc.write("shop", "production", [secret("A", "alpha"), secret("B", "beta")], "a")
    _set_ciphertext(svc.engine, "B", 1, _ciphertext(svc.engine, "A", 1))
    with pytest.raises(TamperedCiphertext, match="B@v1"):
        svc.reveal("shop", "production", "B", "a")
    assert svc.reveal("shop", "production", "A", "a").value == "alpha"


def test_missing_or_wrong_master_key_is_named_and_writes_nothing(
    svc: ConfigService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.write("shop", "production", [secret("S", "v")], "a")
    before = raw_rows(svc.engine)
    (tmp_path / "master.keys").rename(tmp_path / "elsewhere.keys")
    with pytest.raises(MasterKeyError, match=f"no {ENV_KEY} and no key file at .*master.keys"):
        LocalKeyring.load(tmp_path)
    monkeypatch.setenv(ENV_KEY, "11" * 32)  # a valid key, but not the one that wrapped the data keys
    wrong = ConfigService(svc.engine, LocalKeyring.load(tmp_path))
    with pytest.raises(MasterKeyError, match=r"master key mk-[0-9a-f]+ missing from CODERUNNER_MASTER_KEY"):
        wrong.write("shop", "production", [secret("S2", "w")], "a")
    with pytest.raises(MasterKeyError, match="CODERUNNER_MASTER_KEY: master key has 3 bytes"):
        LocalKeyring.from_env("abcdef")
    assert raw_rows(svc.engine) == before


def test_rotate_key_rewraps_everything_and_retires_the_old_key(
    svc: ConfigService, ring: LocalKeyring, tmp_path: Path
) -> None:
    svc.write("shop", "production", [secret("S", "one"), *sets(P="plain")], "a")
    svc.write("shop", "staging", [secret("S", "two")], "a")
    old = ring.active_id()
    reader = ConfigService(svc.engine, LocalKeyring.load(tmp_path))  # another process, old keyring file
    moved, retired = svc.rotate_master_key(ring.add_active, ring.retire, "ops", "yearly")
    assert moved == 3 and retired == [old]  # two environments' data keys + the audit key
    assert old not in LocalKeyring.load(tmp_path).keys
    fresh = ConfigService(svc.engine, LocalKeyring.load(tmp_path))
    assert fresh.snapshot("shop", "production", reveal=True).values() == {"S": "one", "P": "plain"}
    assert fresh.snapshot("shop", "staging", reveal=True).values() == {"S": "two"}
    assert fresh.write("shop", "staging", [secret("S", "three")], "a") == 2
    # a long-running reader (a worker) opened before the rotation picks the new key up by itself
    assert reader.snapshot("shop", "staging", reveal=True).values() == {"S": "three"}
    assert [e.action for e in fresh.audit_log(limit=2)][-1].value == "rotate-key"


def test_rotation_keeps_a_key_that_is_still_referenced(
    svc: ConfigService, ring: LocalKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.write("shop", "production", [secret("S", "one")], "a")
    old = ring.active_id()
    monkeypatch.setattr(svc.keys, "rewrap_all", lambda: 0)  # a rotation interrupted before any re-wrap
    moved, retired = svc.rotate_master_key(ring.add_active, ring.retire, "ops")
    assert (moved, retired) == (0, []) and old in ring.keys
    assert svc.snapshot("shop", "production", reveal=True).values() == {"S": "one"}


# ---- audit ---------------------------------------------------------------------------------------


def test_audit_records_who_what_why_with_keyed_hashes(svc: ConfigService) -> None:
    svc.write("shop", "production", [secret("S", MARKER)], "alice", "launch")
    svc.write("shop", "production", [secret("S", MARKER)], "bob", "same again")
    svc.write("shop", "production", [secret("S", "changed")], "carol", "rotate")
    svc.reveal("shop", "production", "S", "dave", "debug")
    rows = svc.audit_log("shop", "production")
    assert [(r.actor, r.action.value, r.key, r.version, r.reason) for r in rows] == [
        ("dave", "reveal", "S", 3, "debug"),
        ("carol", "set", "S", 3, "rotate"),
        ("bob", "set", "S", 2, "same again"),
        ("alice", "set", "S", 1, "launch"),
    ]
    assert rows[3].value_hash == rows[2].value_hash != rows[1].value_hash  # "did it change" answerable
    assert MARKER not in json.dumps([r.model_dump(mode="json") for r in rows])


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE config_audit SET reason='nothing to see' WHERE seq=2", "row 2: content does not match"),
        ("UPDATE config_audit SET actor='mallory' WHERE seq=1", "row 1: content does not match"),
        ("DELETE FROM config_audit WHERE seq=2", "rows 2..2 are missing"),
        ("DELETE FROM config_audit WHERE seq=3", "rows deleted from the end"),
    ],
)
def test_audit_verify_detects_an_edited_or_deleted_row(svc: ConfigService, tamper: str, problem: str) -> None:
    for i in range(3):
        svc.write("shop", "production", sets(A=str(i)), "alice", f"step {i}")
    assert svc.verify_audit().ok and svc.verify_audit().rows == 3
    with svc.engine.begin() as conn:
        conn.execute(text(tamper))
    report = svc.verify_audit()
    assert not report.ok and any(problem in p for p in report.problems), report.problems


def test_values_table_rows_name_their_data_key(svc: ConfigService) -> None:
    svc.write("shop", "production", [secret("S", "x")], "a")
    blob = _ciphertext(svc.engine, "S", 1)
    assert blob.startswith("cr1:dk:shop:production:")
    assert ConfigValue.__tablename__ == "config_values"
