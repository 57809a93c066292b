"""The ledger: the single truth of every incident, report, assessment and notice, with proof of delivery.

SQLAlchemy Core over SQLite (one file, the default) or PostgreSQL (by URL). Every write is idempotent by id,
so a consumer that replays messages after a crash changes nothing it already recorded.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from schemas import IncidentAssessed, IncidentReported, NoticeRequested


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class NoticeState(StrEnum):
    REQUESTED = "requested"
    AWAITING_APPROVAL = "awaiting_approval"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"


metadata = MetaData()

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("subprocessor_id", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("aware_at", UTCDateTime, nullable=False),
    Column("first_reported_at", UTCDateTime, nullable=False),
    Column("last_reported_at", UTCDateTime, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("revision", String(32), primary_key=True),
    Column("delivery_id", String(128), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("message", Text, nullable=False),
)

assessments = Table(
    "assessments",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("revision", String(32), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("assessed_at", UTCDateTime, nullable=False),
    Column("message", Text, nullable=False),
)

notices = Table(
    "notices",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("incident_id", String(64), nullable=False, index=True),
    Column("revision", String(32), nullable=False),
    Column("recipient_id", String(128), nullable=False, index=True),
    Column("audience", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("locale", String(16)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("receipt", Text),
    Column("last_error", Text),
    Column("rendered", Text, doc="The notice as it was sent: the evidence a controller keeps (Art. 33(5))."),
)


@dataclass(frozen=True)
class NoticeRow:
    notice_id: str
    incident_id: str
    recipient_id: str
    audience: str
    channel: str
    kind: str
    state: str
    attempts: int
    locale: str | None
    requested_at: datetime
    delivered_at: datetime | None
    receipt: str | None
    last_error: str | None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the consumers (separate processes) write while others read; busy_timeout waits out a writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str, create: bool = True) -> "Ledger":
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        ledger = cls(engine)
        if create:
            metadata.create_all(engine)
        return ledger

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _insert_ignore(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows whose primary key is new; returns how many went in."""
        if not rows:
            return 0
        dialect_insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        keys = [c.name for c in table.primary_key.columns]
        stmt = (
            dialect_insert(table)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])  # rowcount is not reliable for multi-row inserts on every driver
        )
        return len(conn.execute(stmt).all())

    # -- incidents and reports -----------------------------------------------------------------------------

    def record_report(self, message: IncidentReported) -> bool:
        """Record a report (once per incident revision); returns False when it was already recorded."""
        report = message.report
        with self._tx() as conn:
            added = self._insert_ignore(
                conn,
                reports,
                [
                    {
                        "incident_id": message.incident_id,
                        "revision": message.revision,
                        "delivery_id": message.delivery_id,
                        "received_at": message.received_at,
                        "message": message.model_dump_json(),
                    }
                ],
            )
            created = self._insert_ignore(
                conn,
                incidents,
                [
                    {
                        "incident_id": message.incident_id,
                        "subprocessor_id": message.subprocessor_id,
                        "source": message.source.value,
                        "status": report.status.value,
                        "title": report.title,
                        "aware_at": report.aware_at,
                        "first_reported_at": message.received_at,
                        "last_reported_at": message.received_at,
                    }
                ],
            )
            if added and not created:
                conn.execute(
                    update(incidents)
                    .where(incidents.c.incident_id == message.incident_id)
                    .where(incidents.c.last_reported_at <= message.received_at)
                    .values(status=report.status.value, title=report.title, last_reported_at=message.received_at)
                )
        return bool(added)

    def incident_reported_at(self, incident_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(incidents.c.first_reported_at).where(incidents.c.incident_id == incident_id)
            ).scalar()

    def record_assessment(self, message: IncidentAssessed) -> bool:
        with self._tx() as conn:
            return bool(
                self._insert_ignore(
                    conn,
                    assessments,
                    [
                        {
                            "incident_id": message.incident_id,
                            "revision": message.revision,
                            "customer_id": message.customer_id,
                            "assessed_at": message.assessed_at,
                            "message": message.model_dump_json(),
                        }
                    ],
                )
            )

    # -- notices -------------------------------------------------------------------------------------------

    def record_requested(self, requests: Sequence[NoticeRequested]) -> int:
        """Record notices as requested unless already known; returns how many were new."""
        rows = [
            {
                "notice_id": r.notice_id,
                "incident_id": r.incident_id,
                "revision": r.revision,
                "recipient_id": r.recipient_id,
                "audience": r.audience.value,
                "channel": r.channel.value,
                "kind": r.kind.value,
                "state": (NoticeState.AWAITING_APPROVAL if r.requires_approval else NoticeState.REQUESTED).value,
                "attempts": 0,
                "locale": r.locale,
                "requested_at": r.requested_at,
            }
            for r in requests
        ]
        with self._tx() as conn:
            return self._insert_ignore(conn, notices, rows)

    def notice_state(self, notice_id: str) -> NoticeState | None:
        with self.engine.connect() as conn:
            state = conn.execute(select(notices.c.state).where(notices.c.notice_id == notice_id)).scalar()
        return None if state is None else NoticeState(state)

    def mark_delivered(
        self, notice_id: str, *, attempts: int, receipt: str, locale: str, rendered: str, at: datetime
    ) -> bool:
        """Record a delivery; returns False when the notice was already delivered (nothing changes then)."""
        with self._tx() as conn:
            result = conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id)
                .where(notices.c.state != NoticeState.DELIVERED.value)
                .values(
                    state=NoticeState.DELIVERED.value,
                    attempts=attempts,
                    receipt=receipt,
                    locale=locale,
                    rendered=rendered,
                    delivered_at=at,
                    last_error=None,
                )
            )
        return bool(result.rowcount)

    def mark_failed(self, notice_id: str, *, attempts: int, error: str, final: bool) -> bool:
        """Record a failed attempt: retrying, or dead when ``final``. A delivered notice stays delivered."""
        state = NoticeState.DEAD if final else NoticeState.RETRYING
        with self._tx() as conn:
            result = conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id)
                .where(notices.c.state != NoticeState.DELIVERED.value)
                .values(state=state.value, attempts=attempts, last_error=error[:2000])
            )
        return bool(result.rowcount)

    def notices(self, incident_id: str | None = None) -> list[NoticeRow]:
        query = select(
            notices.c.notice_id,
            notices.c.incident_id,
            notices.c.recipient_id,
            notices.c.audience,
            notices.c.channel,
            notices.c.kind,
            notices.c.state,
            notices.c.attempts,
            notices.c.locale,
            notices.c.requested_at,
            notices.c.delivered_at,
            notices.c.receipt,
            notices.c.last_error,
        ).order_by(notices.c.recipient_id, notices.c.channel, notices.c.requested_at)
        if incident_id is not None:
            query = query.where(notices.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            return [NoticeRow(**row._mapping) for row in conn.execute(query)]

    def count_by_state(self, incident_id: str | None = None) -> dict[str, int]:
        query = select(notices.c.state, func.count()).group_by(notices.c.state)
        if incident_id is not None:
            query = query.where(notices.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            return {state: count for state, count in conn.execute(query)}

    def rendered(self, notice_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(notices.c.rendered).where(notices.c.notice_id == notice_id)).scalar()
