"""The ledger: the single truth of every incident, report, assessment and notice, with proof of delivery.

SQLAlchemy Core over SQLite (one file, the default) or PostgreSQL (by URL). Every write is idempotent by id,
so a consumer that replays messages after a crash changes nothing it already recorded. The tables are in
``tables``; each store is a module of its own over the one engine, and ``Ledger`` opens the engine and holds them.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from runtime.store.clocks import ClockStore
from runtime.store.delivery import DeliveryStore
from runtime.store.incidents import IncidentStore
from runtime.store.intake import IntakeStore
from runtime.store.release import ReleaseStore
from runtime.store.tables import migrate
from runtime.store.tokens import TokenStore


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the consumers (separate processes) write while others read; busy_timeout waits out a writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Ledger:
    """The ledger's stores over one engine: ``incidents`` (reports, assessments, who is affected), ``delivery``
    (notices, attempts, the queue, dead letters), ``intake`` (webhook delivery claims), ``release`` (holds,
    approvals, decisions), ``tokens`` (API tokens, failed sign-ins) and ``clocks`` (legal clocks)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.incidents = IncidentStore(engine)
        self.delivery = DeliveryStore(engine)
        self.intake = IntakeStore(engine)
        self.release = ReleaseStore(engine)
        self.tokens = TokenStore(engine)
        self.clocks = ClockStore(engine)

    @classmethod
    def connect(cls, url: str, create: bool = True) -> "Ledger":
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        if create:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()
