"""The ledger: the single truth of every incident, report, assessment and notice, with proof of delivery.

SQLAlchemy Core over SQLite (one file, the default) or PostgreSQL (by URL). Every write is idempotent by id,
so a consumer that replays messages after a crash changes nothing it already recorded. The tables are in
``tables``; each store is a module of its own over the one engine, and ``Ledger`` opens the engine and holds them.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

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


class LedgerUnreachable(RuntimeError):
    """The ledger's database did not answer, or its URL is not one to open; the message names the URL without its
    password."""


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL SQLAlchemy can read: any of it may be a password
        scheme, separator, _ = url.partition("://")
        return f"{scheme}://…" if separator else "an unreadable URL"


def _reason(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


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
        """Raises ``LedgerUnreachable`` when the database does not answer (``create``: it is asked at once)."""
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_pre_ping=True)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            if create:
                migrate(engine)
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnreachable(f"the ledger at {_shown(url)} cannot be opened: {_reason(exc)}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()
