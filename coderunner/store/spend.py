"""Autoscaler spend per deployment and month: the table and its two queries.

The AutoscalerWorkflow carries the month's running total and writes it here as an absolute value
each sync, so a retried activity rewrites the same number instead of adding it twice. The table is
created on first use (checkfirst), so adding it needed no change to the shared schema code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from coderunner.store.repository import Store
from coderunner.store.tables import UTCDateTime, utcnow


class SpendRecord(SQLModel, table=True):
    __tablename__ = "autoscale_spend"

    deployment: str = Field(primary_key=True, max_length=200)
    month: str = Field(primary_key=True, max_length=7)  # "2025-06"
    amount: float = 0.0
    budget: float | None = None
    level: int = 0  # highest alert threshold reached (0, 75, 90, 100)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


_ready: set[int] = set()


def _ensure(engine: Engine) -> None:
    if id(engine) not in _ready:
        table = SQLModel.metadata.tables[str(SpendRecord.__tablename__)]
        SQLModel.metadata.create_all(engine, tables=[table], checkfirst=True)
        _ready.add(id(engine))


class SpendStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        _ensure(store.engine)

    def record(self, deployment: str, month: str, amount: float, budget: float | None, level: int) -> None:
        """Upsert the month's total (absolute: idempotent under retries)."""
        values = {"amount": amount, "budget": budget, "level": level, "updated_at": utcnow()}
        stmt = self.store._insert(SpendRecord).values(deployment=deployment, month=month, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["deployment", "month"], set_=values)
        with Session(self.store.engine) as session:
            session.execute(stmt)
            session.commit()

    def history(self, deployment: str, months: int = 12) -> list[SpendRecord]:
        """Newest month first."""
        query = (
            select(SpendRecord)
            .where(col(SpendRecord.deployment) == deployment)
            .order_by(col(SpendRecord.month).desc())
            .limit(months)
        )
        with Session(self.store.engine, expire_on_commit=False) as session:
            return list(session.exec(query).all())
