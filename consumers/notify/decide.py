"""What the notifier does with each notice of a batch: decided from the batch, the ledger's word on its notices
and the time, with no I/O (no Kafka, no ledger, no receiver), so every rule here is tested on its own.

Three moments in a batch:
  ``decide`` — before anything is sent: each notice read is skipped, held, or sent; those sent go in chains,
               one per address, a chain's notices one after the other;
  ``turn``   — when a notice's turn in its chain comes: it is parked instead of sent while an earlier notice to
               its address waits for a retry (outside the batch, or before it in its chain), so a follow-up never
               overtakes the first notice. It falls due just after the first of those to fall due, as every
               notice parked behind them does: when that one settles, its followers go in one batch, in their
               queue's order (falling due one after the other, a second apart each, a queue of hundreds would
               drain at one a second);
  ``judge``  — after its attempt: delivered, retry (when, on which retry topic), or dead (with an on-call alert);
               a notice not attempted because the batch's time ran out (or the notifier stops) is deferred:
               parked, no attempt counted.
"""

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property

from consumers.notify.delivery import Attempt
from consumers.notify.errors import RetryableDelivery
from consumers.notify.retry import RetrySchedule
from runtime.store.delivery import DeliveryRecord, NoticeState, QueueRow
from schemas import Audience, NoticeRequested, Release

SETTLED = frozenset({NoticeState.DELIVERED, NoticeState.DEAD, NoticeState.REJECTED})
PARK_MARGIN = timedelta(seconds=1)  # a parked notice falls due just after the first it waits behind
PARKED = "waiting behind an earlier notice to the same address"
DEFERRED = "not attempted: its batch ran out of time (notify.batch_budget_s) or the notifier was stopping"


def order_key(notice: NoticeRequested) -> str:
    """Notices with one key go out in the order they came: one recipient's address on one channel."""
    return hashlib.sha256(f"{notice.recipient_id}\x1f{notice.channel.value}\x1f{notice.address}".encode()).hexdigest()


@dataclass(frozen=True)
class Work:
    """A notice as read: from notices.requested, or (``retried``) a retry topic's copy, with its attempts so far
    and its hop (the how-manieth copy on a retry topic it is)."""

    notice: NoticeRequested
    attempts: int = 0
    hop: int = 0
    retried: bool = False

    @cached_property  # read many times a batch (chains, queue look-ups, the record)
    def key(self) -> str:
        return order_key(self.notice)


class Skip(StrEnum):
    """Why a notice read changes nothing."""

    SETTLED = "settled"  # the ledger holds it as delivered, dead or rejected
    STALE = "stale retry copy"  # the ledger knows a newer copy, or the notice no longer waits
    OWNED = "waits on a retry topic"  # a redelivered request: the retry copy owns the notice
    REPEATED = "read twice in the batch"


@dataclass(frozen=True)
class Send:
    """A notice to send when its turn in its chain comes."""

    work: Work
    behind: datetime | None = None
    """When the first earlier notice to its address that waits outside the batch falls due (None: none waits)."""


@dataclass(frozen=True)
class Plan:
    """What ``decide`` made of a batch."""

    skipped: list[tuple[Work, Skip]] = field(default_factory=list)
    held: list[Work] = field(default_factory=list)
    """Held by the release policy until a person lets them go."""
    first_seen: list[NoticeRequested] = field(default_factory=list)
    """The notices the ledger does not know yet: to be recorded as requested (held ones whole)."""
    chains: list[list[Send]] = field(default_factory=list)
    """The notices to send: one chain per address, each in the order its notices must go out."""


@dataclass(frozen=True)
class Decision:
    """A notice's outcome in a batch, as the ledger records it, and what goes to Kafka for it."""

    record: DeliveryRecord
    wait_topic_s: int | None = None
    """The retry topic (by its delay) the notice waits on: retried, parked or deferred."""
    alert_oncall: bool = False
    """Dead, and not itself an on-call alert: on-call is told."""

    @property
    def waits(self) -> bool:
        return self.record.outcome in (NoticeState.RETRY, NoticeState.PARKED)


def decide(
    batch: Sequence[Work], states: Mapping[str, NoticeState], queue: Sequence[QueueRow], cleared: Collection[str]
) -> Plan:
    """Skip, hold or send each notice of ``batch``, given the ledger's ``states`` of its notices, the ``queue``
    rows under their order keys, and the ids of those a person let go (``cleared``)."""
    waiting = {r.notice_id: r for r in queue if r.state is NoticeState.WAITING}
    plan = Plan()
    ready: dict[str, Work] = {}
    for w in batch:
        nid = w.notice.notice_id
        row = waiting.get(nid)
        if states.get(nid) in SETTLED:
            plan.skipped.append((w, Skip.SETTLED))
        elif w.retried and (row is None or row.hop != w.hop):
            plan.skipped.append((w, Skip.STALE))
        elif not w.retried and row is not None:
            plan.skipped.append((w, Skip.OWNED))
        elif nid in ready:  # (the same copy: a retried one has the hop the ledger knows, a fresh one hop 0)
            plan.skipped.append((w, Skip.REPEATED))
        else:
            ready[nid] = w
    plan.first_seen.extend(w.notice for nid, w in ready.items() if nid not in states)
    chains: dict[str, list[Work]] = {}
    for nid, w in ready.items():
        if w.notice.release is not Release.AUTO and nid not in cleared:
            plan.held.append(w)
        else:
            chains.setdefault(w.key, []).append(w)

    sending = {w.notice.notice_id for chain in chains.values() for w in chain}
    elsewhere: dict[str, list[QueueRow]] = {}  # notices that wait on a retry topic, not sent in this batch
    for row in waiting.values():
        if row.notice_id not in sending:
            elsewhere.setdefault(row.order_key, []).append(row)
    for key, chain in chains.items():
        # Waiting notices go in their queue order; fresh ones after them, in the order they were read.
        chain.sort(key=lambda w: _place(waiting.get(w.notice.notice_id)))
        sends = []
        for w in chain:
            mine = _place(waiting.get(w.notice.notice_id))
            ahead = [r.due_at for r in elsewhere.get(key, []) if r.due_at is not None and _place(r) < mine]
            sends.append(Send(w, min(ahead, default=None)))
        plan.chains.append(sends)
    return plan


def _place(row: QueueRow | None) -> tuple[int, datetime, str]:
    """A notice's place in its address's queue: a waiting one's, or after every waiting one (``row`` None)."""
    return (0, row.queued_at, row.notice_id) if row else (1, datetime.max.replace(tzinfo=UTC), "")


def turn(send: Send, before: Sequence[Decision], now: datetime, schedule: RetrySchedule) -> Decision | None:
    """At a notice's turn in its chain (``before``: the decisions on the notices ahead of it): parked until just
    after the first earlier notice to its address that waits falls due; None when none waits, and it is sent."""
    ahead = [d.record.due_at for d in before if d.waits and d.record.due_at is not None]
    if send.behind is not None:
        ahead.append(send.behind)
    if not ahead:
        return None
    return park(send.work, min(ahead), PARKED, now, schedule)


def judge(work: Work, attempt: Attempt, now: datetime, schedule: RetrySchedule) -> Decision:
    """The outcome of a notice's attempt."""
    if attempt.deferred:  # not attempted: it waits its turn on the first retry topic, attempts unchanged
        return park(work, now + timedelta(seconds=schedule.delays_s[0]), DEFERRED, now, schedule)
    attempts = work.attempts + 1
    n = work.notice
    if attempt.delivered:
        receipt = attempt.receipt or ""
        record = DeliveryRecord(
            n,
            work.key,
            NoticeState.DELIVERED,
            attempts,
            receipt,
            now,
            work.hop,
            locale=attempt.locale,
            rendered=attempt.rendered,
        )
        return Decision(record)
    reason = str(attempt.error)
    if isinstance(attempt.error, RetryableDelivery):
        wait = schedule.after_failure(attempts, attempt.error.retry_after_s)
        if wait is not None:
            due = now + timedelta(seconds=wait.seconds)
            record = DeliveryRecord(n, work.key, NoticeState.RETRY, attempts, reason, now, work.hop + 1, due_at=due)
            return Decision(record, wait.topic_delay_s)
    # an on-call alert about an on-call alert would never end
    return Decision(
        DeliveryRecord(n, work.key, NoticeState.DEAD, attempts, reason, now, work.hop),
        alert_oncall=n.audience is not Audience.ONCALL,
    )


def park(work: Work, behind_due: datetime, reason: str, now: datetime, schedule: RetrySchedule) -> Decision:
    """The notice waits on a retry topic until just after ``behind_due``, without an attempt counted."""
    due = max(behind_due, now) + PARK_MARGIN
    record = DeliveryRecord(
        work.notice, work.key, NoticeState.PARKED, work.attempts, reason, now, work.hop + 1, due_at=due
    )
    return Decision(record, schedule.topic_for((due - now).total_seconds()))
