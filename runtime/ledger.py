"""The ledger: the single truth of every incident, report, assessment and notice, with proof of delivery.

SQLAlchemy Core over SQLite (one file, the default) or PostgreSQL (by URL). Every write is idempotent by id,
so a consumer that replays messages after a crash changes nothing it already recorded.
"""

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from schemas import IncidentAssessed, IncidentReported, NoticeRequested, Release


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
    HELD = "held"  # until an on-call responder releases it (the release policy's ``held``)
    REJECTED = "rejected"  # an approver refused it: settled, never sent
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"


# A notice's state when first recorded, by how the release policy lets it go.
FIRST_STATE = {
    Release.AUTO: NoticeState.REQUESTED,
    Release.HELD: NoticeState.HELD,
    Release.APPROVE: NoticeState.AWAITING_APPROVAL,
}

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


# -- intake deliveries, approvals, API tokens and legal clocks (issue 5) ---------------------------------------

deliveries = Table(
    "deliveries",
    metadata,
    Column("source", String(64), primary_key=True, doc="The subprocessor (or monitor) the delivery came from."),
    Column("delivery_id", String(128), primary_key=True, doc="Its webhook-id."),
    Column("state", String(16), nullable=False, doc="pending while one intake publishes it, then accepted."),
    Column("answer", Text, doc="The answer given once accepted, repeated to every retry of the delivery."),
    Column("claimed_at", UTCDateTime, nullable=False),
)

held_notices = Table(
    "held_notices",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("message", Text, nullable=False, doc="The NoticeRequested, republished once approved or released."),
)

approvals = Table(
    "approvals",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("approved_by", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("approved_at", UTCDateTime, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("decision", String(16), nullable=False, doc="released (a held notice) or rejected (never sent)"),
    Column("decided_by", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
)

hold_reminders = Table(
    "hold_reminders",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("stage", Integer, nullable=False, doc="Reminders about the incident's held notices sent so far."),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True, doc="sha256 of the token; the token itself is not kept."),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("expires_at", UTCDateTime, doc="Refused from then on; never when null."),
)

signin_buckets = Table(
    "signin_buckets",
    metadata,
    Column("key", String(200), primary_key=True, doc="Whose failed sign-ins: a client address, or all of them."),
    Column("tat", Float, nullable=False, doc="When the bucket is full again (epoch seconds); see oncall/signin.py."),
)

clocks = Table(
    "clocks",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("jurisdiction", String(32), primary_key=True),
    Column("audience", String(32), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("citation", Text, nullable=False),
    Column("stage", Integer, nullable=False, doc="Reminders sent so far; one more once escalated."),
)


# -- delivery: each attempt, and the notices waiting for their turn (issue 4) ---------------------------------

notice_attempts = Table(
    "notice_attempts",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False, doc="delivered, retry or dead"),
    Column("detail", Text, nullable=False, doc="The receipt, or the error."),
)

notice_queue = Table(
    "notice_queue",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("order_key", String(64), nullable=False, index=True, doc="Notices with one key go out in order."),
    Column("queued_at", UTCDateTime, nullable=False, doc="When it first waited: its place in the key's queue."),
    Column("hop", Integer, nullable=False, doc="The newest retry-topic copy; older copies are ignored."),
    Column("due_at", UTCDateTime),
    Column("state", String(16), nullable=False, doc="waiting, dead (kept for replay) or replayed"),
    Column("message", Text, nullable=False, doc="The NoticeRequested, for replay."),
)


class Decision(StrEnum):
    RELEASED = "released"
    REJECTED = "rejected"


# -- who an incident reaches, for the console's paged, searchable list (issue 19) ------------------------------

affected = Table(
    "affected",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("jurisdiction", String(32), primary_key=True, doc="One row per jurisdiction; '' when none applies."),
    Column("name", String(200), nullable=False),
    Column("region", String(32), nullable=False),
    Column("assessed_at", UTCDateTime, nullable=False, doc="The assessment these rows are from: the latest stands."),
    Index("ix_affected_jurisdiction", "incident_id", "jurisdiction", "customer_id"),
    Index("ix_affected_region", "incident_id", "region", "customer_id"),
)


class Queued(StrEnum):
    WAITING = "waiting"
    DEAD = "dead"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class QueueRow:
    notice_id: str
    order_key: str
    queued_at: datetime
    hop: int
    due_at: datetime | None
    state: str


@dataclass(frozen=True)
class DeliveryRecord:
    """One notice's outcome in a batch: delivered, retry (failed, will try again), parked (waits behind an
    earlier notice to the same recipient, no attempt made) or dead."""

    notice: NoticeRequested
    order_key: str
    outcome: str
    attempts: int
    detail: str
    at: datetime
    hop: int = 0
    due_at: datetime | None = None
    locale: str | None = None
    rendered: str | None = None


@dataclass(frozen=True)
class DeadNotice:
    notice_id: str
    incident_id: str
    recipient_id: str
    audience: str
    channel: str
    attempts: int
    last_error: str | None
    requested_at: datetime


@dataclass(frozen=True)
class ClockRow:
    incident_id: str
    customer_id: str
    jurisdiction: str
    audience: str
    started_at: datetime
    due_at: datetime
    citation: str
    stage: int


HeldClock = tuple[str, str, datetime, datetime]
"""(jurisdiction, audience, started, due) of a clock that held notices affect."""


@dataclass
class HeldClocks:
    """An incident's held notices: how many, the reminder stage reached, and (jurisdiction, audience, started,
    due) of the clocks of the customers they go to, the earliest due per jurisdiction, audience and start."""

    incident_id: str
    held: int
    stage: int
    clocks: list[HeldClock] = field(default_factory=list)


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


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """The tables that are missing. The services start together on a new ledger, and between one's look and
    its CREATE another may make a table ("already exists"): look again, the table is there now."""
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


def _add_columns(engine: Engine, table: Table, *names: str) -> None:
    """Nullable columns added to a table after ledgers were made with it (create_all leaves tables that exist).
    Services starting together may both try: the one that finds the column there already looks again."""
    for name in names:
        for attempt in range(3):
            if name in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                break
            column = table.c[name]
            try:
                with engine.begin() as conn:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")
            except (OperationalError, ProgrammingError):
                if attempt == 2:
                    raise


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
            _create_tables(engine)
            _add_columns(engine, api_tokens, "expires_at")
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
        first_key = next(iter(table.primary_key.columns))
        stmt = self._insert(table).returning(first_key)  # rowcount is not reliable for multi-row inserts
        # The rows as parameters, not in the statement: one cached statement that SQLAlchemy batches into
        # multi-row INSERTs itself ("insertmanyvalues"); compiling 500 rows into a statement took ~130 ms.
        return len(conn.execute(stmt, list(rows)).all())

    def _insert_new(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows whose primary key is new, when how many went in does not matter: without RETURNING,
        SQLite runs the rows through the driver's own executemany (a sixth less CPU for a batch's attempts)."""
        if rows:
            conn.execute(self._insert(table), list(rows))

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that skips rows whose primary key is there already."""
        keys = [c.name for c in table.primary_key.columns]
        return self._dialect_insert(table).on_conflict_do_nothing(index_elements=keys)

    def _dialect_insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The database's own INSERT, which has ON CONFLICT (both PostgreSQL and SQLite)."""
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)

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

    def record_assessment(self, message: IncidentAssessed, name: str = "", region: str = "") -> bool:
        """Record an assessment; the customer (``name``, ``region`` from the data map) is listed as affected
        under each of its jurisdictions, as of the latest assessment."""
        with self._tx() as conn:
            added = self._insert_ignore(
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
            if added and message.customer_id:
                self._list_affected(conn, message, name, region)
            return bool(added)

    def _list_affected(self, conn: Connection, message: IncidentAssessed, name: str, region: str) -> None:
        key = (affected.c.incident_id == message.incident_id) & (affected.c.customer_id == message.customer_id)
        listed = conn.execute(select(func.max(affected.c.assessed_at)).where(key)).scalar()
        if listed is not None and listed > message.assessed_at:
            return  # a later assessment is listed already
        conn.execute(delete(affected).where(key))
        if message.no_one_affected:
            return
        conn.execute(
            affected.insert(),
            [
                {
                    "incident_id": message.incident_id,
                    "customer_id": message.customer_id,
                    "jurisdiction": jurisdiction,
                    "name": name[:200],
                    "region": region,
                    "assessed_at": message.assessed_at,
                }
                for jurisdiction in sorted(set(message.jurisdictions)) or [""]
            ],
        )

    # -- notices -------------------------------------------------------------------------------------------

    def record_requested(self, requests: Sequence[NoticeRequested]) -> int:
        """Record notices as requested unless already known; returns how many were new.

        A held notice, or one that needs approval, is kept whole too, so that releasing or approving it can
        republish it."""
        rows = [
            {
                "notice_id": r.notice_id,
                "incident_id": r.incident_id,
                "revision": r.revision,
                "recipient_id": r.recipient_id,
                "audience": r.audience.value,
                "channel": r.channel.value,
                "kind": r.kind.value,
                "state": FIRST_STATE[r.release].value,
                "attempts": 0,
                "locale": r.locale,
                "requested_at": r.requested_at,
            }
            for r in requests
        ]
        held = [
            {"notice_id": r.notice_id, "message": r.model_dump_json()}
            for r in requests
            if r.release is not Release.AUTO
        ]
        with self._tx() as conn:
            self._insert_new(conn, held_notices, held)
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

    # -- delivery: the notifier reads and writes a whole batch at once ---------------------------------------

    def notice_states(self, notice_ids: Sequence[str]) -> dict[str, NoticeState]:
        if not notice_ids:
            return {}
        query = select(notices.c.notice_id, notices.c.state).where(notices.c.notice_id.in_(set(notice_ids)))
        with self.engine.connect() as conn:
            return {nid: NoticeState(state) for nid, state in conn.execute(query)}

    def queue_rows(self, order_keys: Sequence[str]) -> list[QueueRow]:
        """Every queued notice (waiting, dead or replayed) under the given keys, first queued first."""
        if not order_keys:
            return []
        query = (
            select(
                notice_queue.c.notice_id,
                notice_queue.c.order_key,
                notice_queue.c.queued_at,
                notice_queue.c.hop,
                notice_queue.c.due_at,
                notice_queue.c.state,
            )
            .where(notice_queue.c.order_key.in_(set(order_keys)))
            .order_by(notice_queue.c.queued_at, notice_queue.c.notice_id)
        )
        with self.engine.connect() as conn:
            return [QueueRow(**row._mapping) for row in conn.execute(query)]

    def record_deliveries(self, records: Sequence[DeliveryRecord]) -> None:
        """A batch's outcomes in one transaction. A delivered notice stays delivered whatever comes later."""
        by = {o: [r for r in records if r.outcome == o] for o in ("delivered", "retry", "parked", "dead")}
        not_delivered = notices.c.state != NoticeState.DELIVERED.value
        with self._tx() as conn:
            if by["delivered"]:
                conn.execute(
                    update(notices)
                    .where(notices.c.notice_id == bindparam("b_id"), not_delivered)
                    .values(
                        state=NoticeState.DELIVERED.value,
                        attempts=bindparam("b_attempts"),
                        receipt=bindparam("b_detail"),
                        locale=bindparam("b_locale"),
                        rendered=bindparam("b_rendered"),
                        delivered_at=bindparam("b_at"),
                        last_error=None,
                    ),
                    [
                        {
                            "b_id": r.notice.notice_id,
                            "b_attempts": r.attempts,
                            "b_detail": r.detail,
                            "b_locale": r.locale,
                            "b_rendered": r.rendered,
                            "b_at": r.at,
                        }
                        for r in by["delivered"]
                    ],
                )
                conn.execute(
                    delete(notice_queue).where(
                        notice_queue.c.notice_id.in_([r.notice.notice_id for r in by["delivered"]])
                    )
                )
            for outcome, state in (("retry", NoticeState.RETRYING), ("dead", NoticeState.DEAD)):
                if by[outcome]:
                    conn.execute(
                        update(notices)
                        .where(notices.c.notice_id == bindparam("b_id"), not_delivered)
                        .values(state=state.value, attempts=bindparam("b_attempts"), last_error=bindparam("b_detail")),
                        [
                            {"b_id": r.notice.notice_id, "b_attempts": r.attempts, "b_detail": r.detail[:2000]}
                            for r in by[outcome]
                        ],
                    )
            if by["parked"]:
                conn.execute(
                    update(notices)
                    .where(notices.c.notice_id == bindparam("b_id"), not_delivered)
                    .values(last_error=bindparam("b_detail")),
                    [{"b_id": r.notice.notice_id, "b_detail": r.detail[:2000]} for r in by["parked"]],
                )
            queued = [r for r in records if r.outcome != "delivered"]
            if queued:
                stmt = self._dialect_insert(notice_queue)
                # A notice keeps its first place in its key's queue (queued_at) across retries.
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["notice_id"],
                        set_={"hop": stmt.excluded.hop, "due_at": stmt.excluded.due_at, "state": stmt.excluded.state},
                    ),
                    [
                        {
                            "notice_id": r.notice.notice_id,
                            "order_key": r.order_key,
                            "queued_at": r.at,
                            "hop": r.hop,
                            "due_at": r.due_at,
                            "state": (Queued.DEAD if r.outcome == "dead" else Queued.WAITING).value,
                            "message": r.notice.model_dump_json(),
                        }
                        for r in queued
                    ],
                )
            attempts = [
                {
                    "notice_id": r.notice.notice_id,
                    "attempt": r.attempts,
                    "at": r.at,
                    "outcome": r.outcome,
                    "detail": r.detail[:2000],
                }
                for r in records
                if r.outcome != "parked" and r.attempts > 0
            ]
            self._insert_new(conn, notice_attempts, attempts)

    def attempts_of(self, notice_id: str) -> list[tuple[int, str, str, datetime]]:
        """(attempt, outcome, receipt or error, when) for every attempt at a notice, in order."""
        query = (
            select(notice_attempts.c.attempt, notice_attempts.c.outcome, notice_attempts.c.detail, notice_attempts.c.at)
            .where(notice_attempts.c.notice_id == notice_id)
            .order_by(notice_attempts.c.attempt)
        )
        with self.engine.connect() as conn:
            return [(a, o, d, at) for a, o, d, at in conn.execute(query)]

    def dead_notices(self) -> list[DeadNotice]:
        query = (
            select(
                notices.c.notice_id,
                notices.c.incident_id,
                notices.c.recipient_id,
                notices.c.audience,
                notices.c.channel,
                notices.c.attempts,
                notices.c.last_error,
                notices.c.requested_at,
            )
            .join(notice_queue, notice_queue.c.notice_id == notices.c.notice_id)
            .where(notices.c.state == NoticeState.DEAD.value, notice_queue.c.state == Queued.DEAD.value)
            .order_by(notices.c.requested_at, notices.c.notice_id)
        )
        with self.engine.connect() as conn:
            return [DeadNotice(**row._mapping) for row in conn.execute(query)]

    def reset_for_replay(self, notice_id: str) -> NoticeRequested | None:
        """Make a dead notice requested again (attempts from zero) and return it, to be published anew;
        None when it is not dead. Retry-topic copies left from before are ignored from now on."""
        with self._tx() as conn:
            message = conn.execute(
                select(notice_queue.c.message).where(
                    notice_queue.c.notice_id == notice_id, notice_queue.c.state == Queued.DEAD.value
                )
            ).scalar()
            if message is None:
                return None
            conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.DEAD.value)
                .values(state=NoticeState.REQUESTED.value, attempts=0)
            )
            conn.execute(
                update(notice_queue).where(notice_queue.c.notice_id == notice_id).values(state=Queued.REPLAYED.value)
            )
        return NoticeRequested.model_validate_json(message)

    def undo_replay(self, notice_id: str) -> None:
        """The replayed notice could not be published: it is dead again."""
        with self._tx() as conn:
            conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.REQUESTED.value)
                .values(state=NoticeState.DEAD.value)
            )
            conn.execute(
                update(notice_queue)
                .where(notice_queue.c.notice_id == notice_id, notice_queue.c.state == Queued.REPLAYED.value)
                .values(state=Queued.DEAD.value)
            )

    # -- incidents, as on-call staff see them ----------------------------------------------------------------

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(incidents).where(incidents.c.incident_id == incident_id)).first()
        return None if row is None else dict(row._mapping)

    def incident_list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(incidents).order_by(incidents.c.last_reported_at.desc()))
            return [dict(row._mapping) for row in rows]

    def reports_of(self, incident_id: str) -> list[IncidentReported]:
        """Every report about an incident, in the order they were received."""
        query = select(reports.c.message).where(reports.c.incident_id == incident_id).order_by(reports.c.received_at)
        with self.engine.connect() as conn:
            return [IncidentReported.model_validate_json(m) for m in conn.execute(query).scalars()]

    def assessments_of(self, incident_id: str) -> list[IncidentAssessed]:
        query = (
            select(assessments.c.message)
            .where(assessments.c.incident_id == incident_id)
            .order_by(assessments.c.assessed_at, assessments.c.customer_id)
        )
        with self.engine.connect() as conn:
            return [IncidentAssessed.model_validate_json(m) for m in conn.execute(query).scalars()]

    # -- deliveries: a repeated webhook-id gets the same answer and is published once ------------------------

    def claim_delivery(self, source: str, delivery_id: str, now: datetime, stale_before: datetime) -> str | None:
        """Claim a delivery for publishing. Returns None when claimed, the stored answer when it was accepted
        before, or ``"pending"`` while another request holds a fresh claim on it (a claim older than
        ``stale_before`` was left by a crashed intake and is taken over)."""
        key = (deliveries.c.source == source) & (deliveries.c.delivery_id == delivery_id)
        with self._tx() as conn:
            row = {"source": source, "delivery_id": delivery_id, "state": "pending", "claimed_at": now}
            if self._insert_ignore(conn, deliveries, [row]):
                return None
            state, answer = conn.execute(select(deliveries.c.state, deliveries.c.answer).where(key)).one()
            if state == "accepted":
                return str(answer)
            taken = conn.execute(
                update(deliveries)
                .where(key, deliveries.c.state == "pending", deliveries.c.claimed_at < stale_before)
                .values(claimed_at=now)
            )
            return None if taken.rowcount else "pending"

    def accept_delivery(self, source: str, delivery_id: str, answer: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.source == source, deliveries.c.delivery_id == delivery_id)
                .values(state="accepted", answer=answer)
            )

    def release_delivery(self, source: str, delivery_id: str) -> None:
        """Forget a claim whose publishing failed, so that the sender's retry is published."""
        with self._tx() as conn:
            conn.execute(
                delete(deliveries).where(
                    deliveries.c.source == source,
                    deliveries.c.delivery_id == delivery_id,
                    deliveries.c.state == "pending",
                )
            )

    # -- holds: a held notice is delivered once released, an authority notice once approved, a rejected never --

    def approve(self, notice_id: str, *, by: str, reason: str, at: datetime) -> bool:
        """Record an approval; returns False when the notice was approved before (the first one stands)."""
        with self._tx() as conn:
            added = self._insert_ignore(
                conn, approvals, [{"notice_id": notice_id, "approved_by": by, "reason": reason, "approved_at": at}]
            )
            conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.AWAITING_APPROVAL.value)
                .values(state=NoticeState.REQUESTED.value)
            )
        return bool(added)

    def is_approved(self, notice_id: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(approvals.c.notice_id).where(approvals.c.notice_id == notice_id)).first()
        return found is not None

    def approval(self, notice_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(approvals).where(approvals.c.notice_id == notice_id)).first()
        return None if row is None else dict(row._mapping)

    def held_request(self, notice_id: str) -> NoticeRequested | None:
        """The notice, as requested, of a notice that is held or needs approval."""
        with self.engine.connect() as conn:
            message = conn.execute(select(held_notices.c.message).where(held_notices.c.notice_id == notice_id)).scalar()
        return None if message is None else NoticeRequested.model_validate_json(message)

    def cleared(self, notice_ids: Sequence[str]) -> set[str]:
        """Those of ``notice_ids`` a person let go: approved, or released."""
        if not notice_ids:
            return set()
        wanted = set(notice_ids)
        approved = select(approvals.c.notice_id).where(approvals.c.notice_id.in_(wanted))
        released = select(decisions.c.notice_id).where(
            decisions.c.notice_id.in_(wanted), decisions.c.decision == Decision.RELEASED.value
        )
        with self.engine.connect() as conn:
            return set(conn.execute(approved.union(released)).scalars())

    def release(
        self, incident_id: str, audience: str | None, *, by: str, reason: str, at: datetime
    ) -> tuple[int, list[NoticeRequested]]:
        """Release an incident's held notices (of one audience, or all): records who, when and why for each and
        makes it requested again. Returns how many were released now, and the notices to republish: those,
        and those released before and not attempted yet (a release whose republishing failed is completed by
        the next one)."""
        held = (notices.c.incident_id == incident_id) & (notices.c.state == NoticeState.HELD.value)
        if audience is not None:
            held &= notices.c.audience == audience
        with self._tx() as conn:
            ids = list(conn.execute(select(notices.c.notice_id).where(held)).scalars())
            rows = [
                {
                    "notice_id": i,
                    "decision": Decision.RELEASED.value,
                    "decided_by": by,
                    "reason": reason,
                    "decided_at": at,
                }
                for i in ids
            ]
            self._insert_new(conn, decisions, rows)
            if ids:
                conn.execute(update(notices).where(held).values(state=NoticeState.REQUESTED.value))
            pending = (
                select(held_notices.c.message)
                .join(notices, notices.c.notice_id == held_notices.c.notice_id)
                .join(decisions, decisions.c.notice_id == held_notices.c.notice_id)
                .outerjoin(notice_queue, notice_queue.c.notice_id == held_notices.c.notice_id)
                .where(
                    notices.c.incident_id == incident_id,
                    notices.c.state == NoticeState.REQUESTED.value,
                    notice_queue.c.notice_id.is_(None),
                    decisions.c.decision == Decision.RELEASED.value,
                )
            )
            if audience is not None:
                pending = pending.where(notices.c.audience == audience)
            released = [NoticeRequested.model_validate_json(m) for m in conn.execute(pending).scalars()]
        return len(ids), released

    def reject(self, notice_id: str, *, by: str, reason: str, at: datetime) -> bool:
        """Refuse a notice that awaits approval: it is settled and never sent. False when it does not await
        approval (approved, sent, rejected before, or never held for approval)."""
        with self._tx() as conn:
            result = conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.AWAITING_APPROVAL.value)
                .values(state=NoticeState.REJECTED.value)
            )
            if not result.rowcount:
                return False
            self._insert_new(
                conn,
                decisions,
                [
                    {
                        "notice_id": notice_id,
                        "decision": Decision.REJECTED.value,
                        "decided_by": by,
                        "reason": reason,
                        "decided_at": at,
                    }
                ],
            )
        return True

    def decision(self, notice_id: str) -> dict[str, Any] | None:
        """Who released or rejected a notice, when and why."""
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.notice_id == notice_id)).first()
        return None if row is None else dict(row._mapping)

    def held_recipients(self) -> set[tuple[str, str]]:
        """(incident, recipient) of every held notice."""
        query = select(notices.c.incident_id, notices.c.recipient_id).where(notices.c.state == NoticeState.HELD.value)
        with self.engine.connect() as conn:
            return {(incident, recipient) for incident, recipient in conn.execute(query.distinct())}

    def held_clocks(self) -> list[HeldClocks]:
        """Per incident with held notices (and not dismissed): how many, and the clocks of the customers they
        go to (a few rows per incident, however many customers)."""
        held = (
            select(notices.c.incident_id, notices.c.recipient_id)
            .where(notices.c.state == NoticeState.HELD.value)
            .distinct()
            .subquery()
        )
        counts = (
            select(notices.c.incident_id, func.count())
            .where(notices.c.state == NoticeState.HELD.value)
            .group_by(notices.c.incident_id)
        )
        query = (
            select(
                clocks.c.incident_id,
                clocks.c.jurisdiction,
                clocks.c.audience,
                clocks.c.started_at,
                func.min(clocks.c.due_at),
            )
            .join(held, (held.c.incident_id == clocks.c.incident_id) & (held.c.recipient_id == clocks.c.customer_id))
            .outerjoin(incidents, incidents.c.incident_id == clocks.c.incident_id)
            .where(or_(incidents.c.status.is_(None), incidents.c.status != "dismissed"))
            .group_by(clocks.c.incident_id, clocks.c.jurisdiction, clocks.c.audience, clocks.c.started_at)
        )
        found: dict[str, HeldClocks] = {}
        with self.engine.connect() as conn:
            count = {incident: n for incident, n in conn.execute(counts)}
            stages = {incident: stage for incident, stage in conn.execute(select(hold_reminders))}
            for incident, jurisdiction, audience, started, due in conn.execute(query):
                entry = found.setdefault(
                    incident, HeldClocks(incident, count.get(incident, 0), stages.get(incident, 0))
                )
                entry.clocks.append((jurisdiction, audience, started, due))
        return list(found.values())

    def advance_hold_reminder(self, incident_id: str, stage: int) -> bool:
        """Move an incident's held-notice reminders to ``stage``; False when another process already did."""
        with self._tx() as conn:
            if self._insert_ignore(conn, hold_reminders, [{"incident_id": incident_id, "stage": stage}]):
                return True
            result = conn.execute(
                update(hold_reminders)
                .where(hold_reminders.c.incident_id == incident_id, hold_reminders.c.stage < stage)
                .values(stage=stage)
            )
        return bool(result.rowcount)

    # -- API tokens (stored as sha256 hashes) ----------------------------------------------------------------

    def add_token(
        self, token_hash: str, *, name: str, role: str, at: datetime, expires_at: datetime | None = None
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                api_tokens.insert().values(
                    token_hash=token_hash, name=name, role=role, created_at=at, expires_at=expires_at
                )
            )

    def add_first_token(
        self, token_hash: str, *, name: str, role: str, at: datetime, expires_at: datetime | None = None
    ) -> bool:
        """Add a token only when there is none at all (ever made, revoked or not); False when there is one.
        Two callers racing: one INSERT ... WHERE NOT EXISTS wins. SQLite runs the statement under its one write
        lock; PostgreSQL's read-committed snapshot would let both in, so the table is locked against itself."""
        values = {"token_hash": token_hash, "name": name, "role": role, "created_at": at, "expires_at": expires_at}
        source = select(*(bindparam(k, v, type_=api_tokens.c[k].type) for k, v in values.items())).where(
            ~select(api_tokens.c.token_hash).exists()
        )
        with self._tx() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE")
            stmt = api_tokens.insert().from_select(list(values), source).returning(api_tokens.c.token_hash)
            return conn.execute(stmt).first() is not None  # rowcount of INSERT ... SELECT is not reliable

    def token(self, token_hash: str) -> Any:
        """The token's row (revoked or expired ones too), or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash)).first()

    def tokens(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.name)))

    def revoke_tokens(self, name_or_hash_prefix: str, at: datetime) -> list[Any]:
        """Revoke the active tokens with this name, or whose hash starts with this id; the rows revoked."""
        which = api_tokens.c.name == name_or_hash_prefix
        if len(name_or_hash_prefix) >= 8:  # a shorter id could match many tokens' hashes
            which = or_(which, api_tokens.c.token_hash.startswith(name_or_hash_prefix.lower(), autoescape=True))
        with self._tx() as conn:
            rows = list(conn.execute(select(api_tokens).where(which, api_tokens.c.revoked_at.is_(None))))
            if rows:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.token_hash.in_([r.token_hash for r in rows]))
                    .values(revoked_at=at)
                )
        return rows

    # -- failed sign-ins (a token bucket per key, kept here so that every process counts the same failures) ----

    def signin_tats(self, keys: Sequence[str]) -> dict[str, float]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(signin_buckets).where(signin_buckets.c.key.in_(keys)))
            return {row.key: row.tat for row in rows}

    def signin_failed(self, key: str, now: float, interval: float) -> None:
        """Count one failure: the bucket's full-again time moves ``interval`` on from itself or now, whichever is
        later, in one statement (no read-then-write race between processes); buckets full again are dropped."""
        greatest = func.greatest if self.engine.dialect.name == "postgresql" else func.max
        stmt = self._dialect_insert(signin_buckets).values(key=key, tat=now + interval)
        stmt = stmt.on_conflict_do_update(
            index_elements=[signin_buckets.c.key], set_={"tat": greatest(signin_buckets.c.tat, now) + interval}
        )
        with self._tx() as conn:
            conn.execute(stmt)
            conn.execute(delete(signin_buckets).where(signin_buckets.c.tat < now))

    # -- legal clocks ----------------------------------------------------------------------------------------

    def track_clock(self, clock: ClockRow) -> None:
        """Follow a clock; a later assessment may move its due time (reminders already sent stay sent)."""
        with self._tx() as conn:
            if not self._insert_ignore(conn, clocks, [clock.__dict__]):
                conn.execute(
                    update(clocks)
                    .where(
                        clocks.c.incident_id == clock.incident_id,
                        clocks.c.customer_id == clock.customer_id,
                        clocks.c.jurisdiction == clock.jurisdiction,
                        clocks.c.audience == clock.audience,
                    )
                    .values(due_at=clock.due_at, citation=clock.citation)
                )

    def clocks(
        self, incident_id: str | None = None, *, below_stage: int | None = None, running: bool = False
    ) -> list[ClockRow]:
        """The clocks (of one incident), earliest due first; ``running``: not those of dismissed incidents."""
        query = select(clocks).order_by(clocks.c.due_at, clocks.c.customer_id, clocks.c.jurisdiction)
        if incident_id is not None:
            query = query.where(clocks.c.incident_id == incident_id)
        if below_stage is not None:
            query = query.where(clocks.c.stage < below_stage)
        if running:
            dismissed = select(incidents.c.incident_id).where(incidents.c.status == "dismissed")
            query = query.where(clocks.c.incident_id.not_in(dismissed))
        with self.engine.connect() as conn:
            return [ClockRow(**row._mapping) for row in conn.execute(query)]

    def advance_clock(self, clock: ClockRow, stage: int) -> bool:
        """Move a clock to ``stage``; False when another process already did (so only one reminder goes)."""
        with self._tx() as conn:
            result = conn.execute(
                update(clocks)
                .where(
                    clocks.c.incident_id == clock.incident_id,
                    clocks.c.customer_id == clock.customer_id,
                    clocks.c.jurisdiction == clock.jurisdiction,
                    clocks.c.audience == clock.audience,
                    clocks.c.stage < stage,
                )
                .values(stage=stage)
            )
        return bool(result.rowcount)
