"""What the console's pages read from the ledger: each a few indexed queries, paged with LIMIT/OFFSET, so that a
page of an incident reaching 100,000 customers costs what a page of one reaching ten does."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Index, MetaData, Select, and_, func, or_, select

from consumers.assess.rules import RuleBook
from runtime.store import Ledger
from runtime.store.tables import affected, audit_log, clocks, incidents, notices
from schemas import NOTICE_AUDIENCE_FOR, Audience

HELD = ("held", "awaiting_approval")  # held for release, or for an approver
CLOSED = ("resolved", "dismissed")
# Entries made once per customer or notice: counted on the timeline, not listed one by one.
BULK_KINDS = ("incident.assessed", "notice.requested", "notice.delivered", "notice.dead")


# What the pages group, count and page by, within one incident: each read is a range of one index, never a scan of
# the incident's notices or clocks. Made when the console starts, on copies of the tables in a metadata of their
# own: on the shared one, every new ledger's CREATE TABLE would carry them, inside its transaction.
_OWN = MetaData()
_notices, _clocks, _audit = (table.to_metadata(_OWN) for table in (notices, clocks, audit_log))
INDEXES = (
    Index(
        "ix_console_notice_states",
        _notices.c.incident_id,
        _notices.c.state,
        _notices.c.audience,
        _notices.c.channel,
        postgresql_concurrently=True,
    ),
    Index(
        "ix_console_notice_pages",
        _notices.c.incident_id,
        _notices.c.audience,
        _notices.c.recipient_id,
        postgresql_concurrently=True,
    ),
    Index(
        "ix_console_clock_due",
        _clocks.c.incident_id,
        _clocks.c.due_at,
        _clocks.c.customer_id,
        _clocks.c.jurisdiction,
        postgresql_concurrently=True,
    ),
    Index(
        "ix_console_clock_groups",
        _clocks.c.incident_id,
        _clocks.c.jurisdiction,
        _clocks.c.audience,
        _clocks.c.due_at,
        postgresql_concurrently=True,
    ),
    Index(
        "ix_console_audit_kinds",
        _audit.c.incident_id,
        _audit.c.kind,
        _audit.c.at,
        postgresql_concurrently=True,
    ),
)


def ensure_indexes(engine: Engine) -> None:
    """Made outside a transaction: on PostgreSQL ``CREATE INDEX CONCURRENTLY``, so that a large ledger's
    notifier and record consumer keep writing while the console's first start builds them."""
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        for index in INDEXES:
            index.create(conn, checkfirst=True)


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.size)


def page_of(number: int, size: int, total: int) -> Page:
    last = max(1, -(-total // size))
    return Page(min(max(1, number), last), size, total)


def _count(ledger: Ledger, query: Select[Any]) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def _pairs(result: Any) -> dict[Any, Any]:
    return {key: value for key, value in result}


def _rows(ledger: Ledger, query: Select[Any]) -> list[dict[str, Any]]:
    with ledger.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


# -- the incidents list ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    incident_id: str
    status: str
    title: str
    subprocessor_id: str
    source: str
    first_reported_at: datetime
    last_reported_at: datetime
    customers: int
    earliest_due: datetime | None
    held: int
    sent: int
    failed: int
    dead: int


def incident_rows(ledger: Ledger, status: str = "", subprocessor: str = "") -> list[IncidentRow]:
    """Every incident (filtered by status and subprocessor), newest first, with its counts and earliest clock."""
    query = select(incidents).order_by(incidents.c.last_reported_at.desc())
    if status:
        query = query.where(incidents.c.status == status)
    if subprocessor:
        query = query.where(incidents.c.subprocessor_id == subprocessor)
    found = _rows(ledger, query)
    ids = [row["incident_id"] for row in found]
    customers: dict[str, int] = {}
    due: dict[str, datetime] = {}
    states: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if ids:
        with ledger.engine.connect() as conn:
            customers = _pairs(
                conn.execute(
                    select(affected.c.incident_id, func.count(func.distinct(affected.c.customer_id)))
                    .where(affected.c.incident_id.in_(ids))
                    .group_by(affected.c.incident_id)
                )
            )
            due = _pairs(
                conn.execute(
                    select(clocks.c.incident_id, func.min(clocks.c.due_at))
                    .where(clocks.c.incident_id.in_(ids))
                    .group_by(clocks.c.incident_id)
                )
            )
            for incident, state, count in conn.execute(
                select(notices.c.incident_id, notices.c.state, func.count())
                .where(notices.c.incident_id.in_(ids))
                .group_by(notices.c.incident_id, notices.c.state)
            ):
                states[incident][state] += count
    return [
        IncidentRow(
            incident_id=row["incident_id"],
            status=row["status"],
            title=row["title"],
            subprocessor_id=row["subprocessor_id"],
            source=row["source"],
            first_reported_at=row["first_reported_at"],
            last_reported_at=row["last_reported_at"],
            customers=customers.get(row["incident_id"], 0),
            # (a clock of a closed incident no longer runs)
            earliest_due=None if row["status"] in CLOSED else due.get(row["incident_id"]),
            held=sum(states[row["incident_id"]].get(s, 0) for s in HELD),
            sent=states[row["incident_id"]].get("delivered", 0),
            failed=states[row["incident_id"]].get("retrying", 0),
            dead=states[row["incident_id"]].get("dead", 0),
        )
        for row in found
    ]


def subprocessors_with_incidents(ledger: Ledger) -> list[str]:
    with ledger.engine.connect() as conn:
        return list(conn.execute(select(incidents.c.subprocessor_id).distinct().order_by("subprocessor_id")).scalars())


# -- who an incident reaches -----------------------------------------------------------------------------------


def affected_counts(ledger: Ledger, incident_id: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """(customers, customers by jurisdiction, customers by region). A customer has one region: the customers are
    the sum of the regions' counts."""
    where = affected.c.incident_id == incident_id
    with ledger.engine.connect() as conn:
        by_jurisdiction = _pairs(
            conn.execute(
                select(affected.c.jurisdiction, func.count())
                .where(where)
                .group_by(affected.c.jurisdiction)
                .order_by(affected.c.jurisdiction)
            )
        )
        by_region = _pairs(
            conn.execute(
                select(affected.c.region, func.count(func.distinct(affected.c.customer_id)))
                .where(where)
                .group_by(affected.c.region)
                .order_by(affected.c.region)
            )
        )
    return sum(by_region.values()), by_jurisdiction, by_region


def affected_page(
    ledger: Ledger,
    incident_id: str,
    *,
    search: str,
    jurisdiction: str,
    region: str,
    page: int,
    size: int,
    total: int | None = None,
) -> tuple[list[dict[str, Any]], Page]:
    """One page of the affected customers (a row per customer and jurisdiction), by customer id; ``total`` is
    how many rows match, when the caller knows it (else counted)."""
    query = select(affected.c.customer_id, affected.c.name, affected.c.region, affected.c.jurisdiction).where(
        affected.c.incident_id == incident_id
    )
    if jurisdiction:
        query = query.where(affected.c.jurisdiction == jurisdiction)
    if region:
        query = query.where(affected.c.region == region)
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(affected.c.customer_id).like(pattern, escape="\\"),
                func.lower(affected.c.name).like(pattern, escape="\\"),
            )
        )
    at = page_of(page, size, _count(ledger, query) if total is None else total)
    rows = _rows(
        ledger, query.order_by(affected.c.customer_id, affected.c.jurisdiction).limit(at.size).offset(at.offset)
    )
    return rows, at


# -- legal clocks ----------------------------------------------------------------------------------------------


def clock_groups(ledger: Ledger, incident_id: str) -> list[dict[str, Any]]:
    """The incident's clocks by jurisdiction and audience: how many, the first and last due."""
    query = (
        select(
            clocks.c.jurisdiction,
            clocks.c.audience,
            func.count().label("count"),
            func.min(clocks.c.due_at).label("first_due"),
            func.max(clocks.c.due_at).label("last_due"),
        )
        .where(clocks.c.incident_id == incident_id)
        .group_by(clocks.c.jurisdiction, clocks.c.audience)
        .order_by(func.min(clocks.c.due_at))
    )
    return _rows(ledger, query)


def clock_page(ledger: Ledger, incident_id: str, page: int, size: int, total: int) -> tuple[list[dict[str, Any]], Page]:
    """One page of the ``total`` clocks, soonest due first, each with the states of the notices that answer it."""
    query = select(clocks).where(clocks.c.incident_id == incident_id)
    at = page_of(page, size, total)
    rows = _rows(
        ledger,
        query.order_by(clocks.c.due_at, clocks.c.customer_id, clocks.c.jurisdiction).limit(at.size).offset(at.offset),
    )
    answered: dict[tuple[str, str], set[str]] = defaultdict(set)
    customers = {row["customer_id"] for row in rows}
    if customers:
        with ledger.engine.connect() as conn:
            for recipient, audience, state in conn.execute(
                select(notices.c.recipient_id, notices.c.audience, notices.c.state).where(
                    and_(notices.c.incident_id == incident_id, notices.c.recipient_id.in_(customers))
                )
            ):
                answered[(recipient, audience)].add(state)
    for row in rows:
        audience = NOTICE_AUDIENCE_FOR.get(Audience(row["audience"]))
        row["notice_states"] = answered.get((row["customer_id"], audience), set()) if audience else set()
    return rows, at


def waits_for_determination(
    rules: RuleBook, determinations: Mapping[str, datetime], jurisdiction: str, audience: str
) -> bool:
    """A clock of this jurisdiction and audience runs from a determination not yet recorded: its due time is the
    latest possible one, and it starts when the determination is recorded (an on-call update with
    ``determinations``)."""
    try:
        law = rules[jurisdiction]
    except KeyError:  # a law the rules no longer have: nothing to say about it
        return False
    determined = determinations.get(jurisdiction)
    return any(o.waits_for(determined) is not None for o in law.obligations if o.audience == audience)


def clock_state(due_at: datetime, notice_states: set[str], now: datetime) -> str:
    """met (every notice answering it delivered), held, overdue or running."""
    if notice_states and notice_states == {"delivered"}:
        return "met"
    if notice_states & set(HELD):
        return "held" if due_at > now else "overdue, held"
    return "overdue" if due_at <= now else "running"


# -- notices ---------------------------------------------------------------------------------------------------


def notice_groups(ledger: Ledger, incident_id: str) -> list[dict[str, Any]]:
    """How many notices there are by audience, channel and state."""
    query = (
        select(notices.c.audience, notices.c.channel, notices.c.state, func.count().label("count"))
        .where(notices.c.incident_id == incident_id)
        .group_by(notices.c.audience, notices.c.channel, notices.c.state)
        .order_by(notices.c.audience, notices.c.channel, notices.c.state)
    )
    return _rows(ledger, query)


def held_by_audience(ledger: Ledger, incident_id: str, states: tuple[str, ...] = ("held",)) -> dict[str, int]:
    query = (
        select(notices.c.audience, func.count())
        .where(notices.c.incident_id == incident_id, notices.c.state.in_(states))
        .group_by(notices.c.audience)
        .order_by(notices.c.audience)
    )
    with ledger.engine.connect() as conn:
        return {audience: int(count) for audience, count in conn.execute(query)}


def notice_page(
    ledger: Ledger,
    incident_id: str,
    *,
    audience: str,
    channel: str,
    state: str,
    page: int,
    size: int,
    groups: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], Page]:
    """One page of notices; how many match is summed from ``notice_groups``, not counted again."""
    query = select(
        notices.c.notice_id,
        notices.c.recipient_id,
        notices.c.audience,
        notices.c.channel,
        notices.c.kind,
        notices.c.state,
        notices.c.attempts,
        notices.c.locale,
        notices.c.requested_at,
        notices.c.delivered_at,
        notices.c.last_error,
    ).where(notices.c.incident_id == incident_id)
    for column, value in ((notices.c.audience, audience), (notices.c.channel, channel), (notices.c.state, state)):
        if value:
            query = query.where(column == value)
    wanted = {"audience": audience, "channel": channel, "state": state}
    total = sum(g["count"] for g in groups if all(not v or g[k] == v for k, v in wanted.items()))
    at = page_of(page, size, total)
    rows = _rows(
        ledger,
        query.order_by(notices.c.audience, notices.c.recipient_id).limit(at.size).offset(at.offset),
    )
    return rows, at


def notices_in_state(ledger: Ledger, incident_id: str, state: str, limit: int = 100) -> list[dict[str, Any]]:
    """The incident's notices in one state (a few: those awaiting approval, say), by audience and recipient."""
    # (sorted here: sorted by the database, it would walk every notice of the incident in that order)
    query = (
        select(notices.c.notice_id, notices.c.recipient_id, notices.c.audience, notices.c.channel, notices.c.kind)
        .where(notices.c.incident_id == incident_id, notices.c.state == state)
        .limit(limit)
    )
    return sorted(_rows(ledger, query), key=lambda n: (n["audience"], n["recipient_id"], n["channel"]))


def notice_row(ledger: Ledger, notice_id: str) -> dict[str, Any] | None:
    with ledger.engine.connect() as conn:
        row = conn.execute(select(notices).where(notices.c.notice_id == notice_id)).first()
    return None if row is None else dict(row._mapping)


# -- the timeline ----------------------------------------------------------------------------------------------


def timeline(ledger: Ledger, incident_id: str, limit: int = 500) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the incident's audit entries but the per-customer ones, oldest first; for each per-customer kind, its
    first and last time, each found by one seek of the (incident, kind, time) index)."""
    where = audit_log.c.incident_id == incident_id
    # (no ORDER BY inside: ordered by seq, the database would walk every entry of the incident instead)
    wanted = select(audit_log.c.seq).where(where, audit_log.c.kind.not_in(BULK_KINDS))
    entries = _rows(
        ledger,
        select(audit_log.c.seq, audit_log.c.at, audit_log.c.kind, audit_log.c.actor, audit_log.c.data)
        .where(audit_log.c.seq.in_(wanted.scalar_subquery()))
        .order_by(audit_log.c.seq)
        .limit(limit),
    )
    spans: dict[str, Any] = {}
    with ledger.engine.connect() as conn:
        for kind in BULK_KINDS:
            kind_where = (where, audit_log.c.kind == kind)
            first = conn.execute(select(func.min(audit_log.c.at)).where(*kind_where)).scalar()
            if first is not None:
                last = conn.execute(select(func.max(audit_log.c.at)).where(*kind_where)).scalar()
                spans[kind] = (first, last)
    return entries, spans
