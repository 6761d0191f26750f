"""Config service figures on SQLite: a versioned, encrypted, audited write and a decrypting resolve,
against a same-run baseline (a bare insert of one row in the same database), plus two concurrent
writers (every write lands; how many check-and-set retries that cost).

    .venv/bin/python bench/config_store.py
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text

from coderunner.configstore.keyring import LocalKeyring
from coderunner.configstore.service import ConfigService
from coderunner.models.configstore import ConfigChange, ConfigRef
from coderunner.store.engine import make_engine

N = 200


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-config-"))
    engine = make_engine(f"sqlite:///{home / 'app.sqlite'}")
    svc = ConfigService(engine, LocalKeyring.load(home, create=True))
    for i in range(20):  # an environment of 20 keys, half of them secrets
        svc.write(
            "shop", "production", [ConfigChange(key=f"K{i}", value="x" * 40, secret=i % 2 == 0)], "bench"
        )

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE baseline (id INTEGER PRIMARY KEY, v TEXT)"))
    start = time.perf_counter()
    for i in range(N):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO baseline (v) VALUES (:v)"), {"v": str(i)})
    baseline = (time.perf_counter() - start) / N

    start = time.perf_counter()
    for i in range(N):
        svc.write("shop", "production", [ConfigChange(key="S", value=f"v{i}", secret=True)], "bench")
    write = (time.perf_counter() - start) / N

    ref = ConfigRef(project="shop", environment="production", version=svc.head("shop", "production"))
    start = time.perf_counter()
    for _ in range(N):
        svc.resolve(ref)
    resolve = (time.perf_counter() - start) / N

    before = svc.head("shop", "production")
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=lambda n=n: [
                svc.write("shop", "production", [ConfigChange(key=f"W{n}_{i}", value="v")], f"w{n}")
                for i in range(N // 2)
            ]
        )
        for n in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = time.perf_counter() - start
    landed = svc.head("shop", "production") - before
    print(f"bare one-row insert (baseline)      {baseline * 1000:7.2f} ms")
    print(
        f"config write (21 keys, 11 secrets)  {write * 1000:7.2f} ms   ({write / baseline:.1f}x baseline): "
        "new version, re-encrypt, audit chain"
    )
    print(
        f"resolve (decrypt 11 secrets)        {resolve * 1000:7.2f} ms   ({resolve / baseline:.1f}x baseline)"
    )
    print(
        f"2 concurrent writers x {N // 2}: {landed}/{N} writes landed in {both:.2f}s "
        f"({landed / both:.0f} writes/s); audit chain intact: {svc.verify_audit().ok}"
    )


if __name__ == "__main__":
    main()
