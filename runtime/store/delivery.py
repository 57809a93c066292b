"""Notices and their delivery: each notice's state, every attempt, the queue of notices waiting
for their turn, dead letters and their replay."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, delete, select, update

from runtime.store.db import Store, columns, dialect_insert, insert_ignore, insert_new
from runtime.store.tables import held_notices, notice_attempts, notice_queue, notices
from schemas import Audience, NoticeRequested, Release


class NoticeState(StrEnum):
    """Where a notice stands: the one vocabulary of the notifier's decisions, its records and the ledger. Each
    value is the string the ledger stores.

    - ``notices.state``: REQUESTED, AWAITING_APPROVAL, HELD (until an on-call responder releases it), REJECTED (an
      approver refused it: settled, never sent), RETRYING (waits for its next attempt), DELIVERED, DEAD;
    - a batch's outcome for a notice (``DeliveryRecord.outcome``; each attempt's in ``notice_attempts``):
      DELIVERED, RETRY (the attempt failed and another follows: the notice is then RETRYING), PARKED (it waits
      behind an earlier notice to its address, or was deferred: no attempt made), DEAD;
    - ``notice_queue.state``: WAITING (on a retry topic), DEAD, REPLAYED (published again from notices.dead).
    """

    REQUESTED = "requested"
    AWAITING_APPROVAL = "awaiting_approval"
    HELD = "held"
    REJECTED = "rejected"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    RETRY = "retry"
    PARKED = "parked"
    WAITING = "waiting"
    REPLAYED = "replayed"


# A notice's state when first recorded, by how the release policy lets it go.
FIRST_STATE = {
    Release.AUTO: NoticeState.REQUESTED,
    Release.HELD: NoticeState.HELD,
    Release.APPROVE: NoticeState.AWAITING_APPROVAL,
}

# The state a batch's outcome leaves a notice in (a parked one keeps its state).
STATE_AFTER = {NoticeState.RETRY: NoticeState.RETRYING, NoticeState.DEAD: NoticeState.DEAD}


@dataclass(frozen=True)
class QueueRow:
    notice_id: str
    order_key: str
    queued_at: datetime
    hop: int
    due_at: datetime | None
    state: NoticeState


@dataclass(frozen=True)
class DeliveryRecord:
    """One notice's outcome in a batch: delivered, retry (failed, will try again), parked (waits behind an
    earlier notice to the same recipient, no attempt made) or dead."""

    notice: NoticeRequested
    order_key: str
    outcome: NoticeState
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
    audience: Audience
    channel: str
    attempts: int
    last_error: str | None
    requested_at: datetime


@dataclass(frozen=True)
class NoticeRow:
    notice_id: str
    incident_id: str
    recipient_id: str
    audience: Audience
    channel: str
    kind: str
    state: str
    attempts: int
    locale: str | None
    requested_at: datetime
    delivered_at: datetime | None
    receipt: str | None
    last_error: str | None


class DeliveryStore(Store):
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
                "audience": r.audience,
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
        with self.engine.begin() as conn:
            insert_new(conn, held_notices, held)
            return insert_ignore(conn, notices, rows)

    def notice_state(self, notice_id: str) -> NoticeState | None:
        with self.engine.connect() as conn:
            state = conn.execute(select(notices.c.state).where(notices.c.notice_id == notice_id)).scalar()
        return None if state is None else NoticeState(state)

    def notices(self, incident_id: str | None = None) -> list[NoticeRow]:
        order = (notices.c.recipient_id, notices.c.channel, notices.c.requested_at)
        query = select(*columns(notices, NoticeRow)).order_by(*order)
        if incident_id is not None:
            query = query.where(notices.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            return [NoticeRow(**row._mapping) for row in conn.execute(query)]

    def rendered(self, notice_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(notices.c.rendered).where(notices.c.notice_id == notice_id)).scalar()

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
            select(*columns(notice_queue, QueueRow))
            .where(notice_queue.c.order_key.in_(set(order_keys)))
            .order_by(notice_queue.c.queued_at, notice_queue.c.notice_id)
        )
        with self.engine.connect() as conn:
            return [QueueRow(**{**row._mapping, "state": NoticeState(row.state)}) for row in conn.execute(query)]

    def record_deliveries(self, records: Sequence[DeliveryRecord]) -> None:
        """A batch's outcomes in one transaction. A delivered notice stays delivered whatever comes later."""
        by: dict[NoticeState, list[DeliveryRecord]] = defaultdict(list)
        for r in records:
            by[r.outcome].append(r)
        not_delivered = notices.c.state != NoticeState.DELIVERED.value
        with self.engine.begin() as conn:
            if by[NoticeState.DELIVERED]:
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
                        for r in by[NoticeState.DELIVERED]
                    ],
                )
                conn.execute(
                    delete(notice_queue).where(
                        notice_queue.c.notice_id.in_([r.notice.notice_id for r in by[NoticeState.DELIVERED]])
                    )
                )
            for outcome, state in STATE_AFTER.items():
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
            if by[NoticeState.PARKED]:
                conn.execute(
                    update(notices)
                    .where(notices.c.notice_id == bindparam("b_id"), not_delivered)
                    .values(last_error=bindparam("b_detail")),
                    [{"b_id": r.notice.notice_id, "b_detail": r.detail[:2000]} for r in by[NoticeState.PARKED]],
                )
            queued = [r for r in records if r.outcome is not NoticeState.DELIVERED]
            if queued:
                stmt = dialect_insert(conn, notice_queue)
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
                            "state": (NoticeState.DEAD if r.outcome is NoticeState.DEAD else NoticeState.WAITING).value,
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
                    "outcome": r.outcome.value,
                    "detail": r.detail[:2000],
                }
                for r in records
                if r.outcome is not NoticeState.PARKED and r.attempts > 0
            ]
            insert_new(conn, notice_attempts, attempts)

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
            select(*columns(notices, DeadNotice))
            .join(notice_queue, notice_queue.c.notice_id == notices.c.notice_id)
            .where(notices.c.state == NoticeState.DEAD.value, notice_queue.c.state == NoticeState.DEAD.value)
            .order_by(notices.c.requested_at, notices.c.notice_id)
        )
        with self.engine.connect() as conn:
            return [DeadNotice(**row._mapping) for row in conn.execute(query)]

    def reset_for_replay(self, notice_id: str) -> NoticeRequested | None:
        """Make a dead notice requested again (attempts from zero) and return it, to be published anew;
        None when it is not dead. Retry-topic copies left from before are ignored from now on."""
        with self.engine.begin() as conn:
            message = conn.execute(
                select(notice_queue.c.message).where(
                    notice_queue.c.notice_id == notice_id, notice_queue.c.state == NoticeState.DEAD.value
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
                update(notice_queue)
                .where(notice_queue.c.notice_id == notice_id)
                .values(state=NoticeState.REPLAYED.value)
            )
        return NoticeRequested.model_validate_json(message)

    def undo_replay(self, notice_id: str) -> None:
        """The replayed notice could not be published: it is dead again."""
        with self.engine.begin() as conn:
            conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.REQUESTED.value)
                .values(state=NoticeState.DEAD.value)
            )
            conn.execute(
                update(notice_queue)
                .where(notice_queue.c.notice_id == notice_id, notice_queue.c.state == NoticeState.REPLAYED.value)
                .values(state=NoticeState.DEAD.value)
            )
