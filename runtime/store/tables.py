"""The ledger's tables: one definition of each, in one MetaData, and how a ledger gets them.

Every store in this package reads and writes these tables; ``create_tables`` makes the missing ones and
``add_columns`` the columns added after ledgers were made.
"""

import time
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
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
    inspect,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from schemas import Audience


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


class AudienceColumn(TypeDecorator[Audience]):
    """An audience as its wire word in the database, an ``Audience`` in Python: one vocabulary end to end."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Audience | str | None, dialect: Dialect) -> str | None:
        return None if value is None else Audience(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Audience | None:
        return None if value is None else Audience(value)


metadata = MetaData()

# -- incidents (incidents.py) and notices (delivery.py) -------------------------------------------------------

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
    Column("audience", AudienceColumn(16), nullable=False),
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


# -- intake claims (intake.py), holds (release.py), API tokens and sign-ins (tokens.py), clocks (clocks.py) ---

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
    Column("audience", AudienceColumn(32), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("citation", Text, nullable=False),
    Column("stage", Integer, nullable=False, doc="Reminders sent so far; one more once escalated."),
)


# -- delivery (delivery.py): each attempt, and the notices waiting for their turn ------------------------------

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


# -- who an incident reaches (incidents.py), for the console's paged, searchable list --------------------------

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


# -- the audit chain (runtime/audit.py) and the console's sessions (producers/console/sessions.py) ---------------

AUDIT_UNKEYED = 1  # the chain version of entries from before the chain was keyed (runtime/audit.py)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column(
        "key", String(200), nullable=False, unique=True, doc="What the entry records, once: e.g. report:<id>:<rev>."
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("incident_id", String(64), index=True),
    Column("kind", String(40), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, doc="Version 2: the entry's HMAC; version 1: its plain sha256."),
    Column("version", Integer, nullable=False, server_default=text(str(AUDIT_UNKEYED))),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True, doc="sha256 of the cookie's session id."),
    Column("token_hash", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)


console_codes = Table(
    "console_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True, doc="sha256 of a one-time sign-in code."),
    Column("token_hash", String(64), nullable=False, doc="The token whose role a session opened with it has."),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)


# Nullable columns added after ledgers were made with their tables (create_all leaves tables that exist).
ADDED_COLUMNS: dict[Table, tuple[str, ...]] = {api_tokens: ("expires_at",)}


def create_tables(engine: Engine, attempts: int = 5) -> None:
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


def add_columns(engine: Engine, table: Table, *names: str) -> None:
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


def migrate(engine: Engine) -> None:
    """The missing tables, then the columns added since."""
    create_tables(engine)
    for table, names in ADDED_COLUMNS.items():
        add_columns(engine, table, *names)
