"""The notify consumer: reads ``notices.requested`` and the retry topics, delivers, records, then commits.

Steps per batch, in order:
  0. verify  — a notice whose signature is missing or does not verify is never sent: it goes to notices.dead,
               on-call is alerted, and the ledger records it dead (unless the ledger already knows a notice of
               that id: a forged copy must not settle the real one);
  0. wait    — (retry topics) a notice not yet due holds its partition until it is (``gate``);
  1. skip    — the ledger holds it as delivered or dead, or a newer copy of it waits on a retry topic: a
               redelivered message changes nothing;
  2. hold    — a notice the release policy holds (``held``: until an on-call responder releases it;
               ``approve``: until an approver approves it) waits in the ledger, whole, until a person lets it go;
  3. render  — the templates, in the recipient's locale;
  4. send    — by the notice's channel, concurrently (``delivery``); notices to one address go one after the
               other, and one waiting for a retry holds back the later ones to that address (they are "parked"
               on a retry topic behind it), so a follow-up never overtakes the first notice; a notice whose turn
               comes after the batch's time budget is parked too, not attempted, so a slow host holds the
               partition no longer than that;
  5. publish — ``notices.sent``, a retry topic (with the due time), or ``notices.dead`` and an on-call notice;
               then wait for Kafka's acks;
  6. record  — the outcomes in the ledger, in one transaction;
and the loop commits offsets only after all of that.

Why Kafka before the ledger: the ledger is the truth the next read of a message is judged by. When it says a
notice waits with hop n, the retry record with hop n is known to be on Kafka; a crash between the two steps
leaves at worst a second copy of a retry record (ignored by its hop, or a second attempt with the same
webhook-id / Message-ID), never a notice the ledger thinks is queued that no topic holds.
"""

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from typing import Any, TypeVar

import structlog
from kafka import KafkaConsumer, KafkaProducer

from consumers.assess.rules import load_rules
from consumers.notify.delivery import Attempt, Dispatcher
from consumers.notify.errors import RetryableDelivery
from consumers.notify.gate import DueGate
from consumers.notify.render import Renderer
from consumers.notify.retry import RetrySchedule
from runtime.consumer import ConsumerLoop, Received, Turns, run_together
from runtime.datamap import DataMap
from runtime.kafka import ensure_topics, make_consumer, make_producer, send
from runtime.metrics import NotifyMetrics
from runtime.notice_signing import NoticeSigner, SignatureError
from runtime.oncall import oncall_alert
from runtime.settings import OncallSettings, Settings
from runtime.store import Ledger
from runtime.store.delivery import DeliveryRecord, NoticeState, Queued, QueueRow
from runtime.topics import Topics, topics_for
from schemas import (
    Audience,
    NoticeDead,
    NoticeRequested,
    NoticeRetry,
    NoticeSent,
    Release,
)

log = structlog.get_logger(__name__)

M = TypeVar("M", NoticeRequested, NoticeRetry)
Handle = Callable[[Sequence[Received[M]]], None]

DONE = frozenset({NoticeState.DELIVERED, NoticeState.DEAD, NoticeState.REJECTED})
PARK_MARGIN = timedelta(seconds=1)  # a parked notice falls due just after the one it waits behind
PARKED = "waiting behind an earlier notice to the same address"
DEFERRED = "not attempted: its batch ran out of time (notify.batch_budget_s), slow endpoints held it"


def order_key(notice: NoticeRequested) -> str:
    """Notices with one key go out in the order they came: one recipient's address on one channel."""
    return hashlib.sha256(f"{notice.recipient_id}\x1f{notice.channel.value}\x1f{notice.address}".encode()).hexdigest()


@dataclass(frozen=True)
class Work:
    notice: NoticeRequested
    attempts: int = 0
    hop: int = 0

    @cached_property  # read many times a batch (chains, queue look-ups, the record)
    def key(self) -> str:
        return order_key(self.notice)


@dataclass(frozen=True)
class Outcome:
    record: DeliveryRecord
    retry_topic: str | None = None

    @property
    def waits(self) -> bool:
        return self.record.outcome in ("retry", "parked")


def oncall_notice(
    dead: NoticeRequested, attempts: int, reason: str, oncall: OncallSettings, at: datetime, signer: NoticeSigner
) -> NoticeRequested:
    """The on-call team's alert that a notice is dead (its text travels as the incident description)."""
    description = (
        f"The {dead.audience.value} notice {dead.notice_id} to {dead.recipient_name} ({dead.channel.value}) "
        f"could not be delivered after {attempts} attempt(s); last answer: {reason}. It is in notices.dead; "
        f"`breachwire dlq replay --notice {dead.notice_id}` sends it again."
    )
    return oncall_alert(
        oncall,
        signer,
        key="dead",
        revision=f"dead.{dead.notice_id}",
        facts=dead.incident.model_copy(update={"description": description}),
        requested_at=at,
        references=[dead.notice_id],
        deadlines=dead.deadlines,
    )


def forged_notice_alert(
    forged: NoticeRequested, reason: str, oncall: OncallSettings, at: datetime, signer: NoticeSigner
) -> NoticeRequested:
    """The on-call team's alert that a notice on Kafka was not signed by breachwire: someone wrote it there."""
    description = (
        f"A notice on Kafka failed its check ({reason}) and was not sent: notice {forged.notice_id}, "
        f"{forged.audience.value} {forged.recipient_id!r} by {forged.channel.value} to {forged.address!r} "
        f"(release {forged.release.value}). Whoever can write to notices.requested wrote it, or the notice keys "
        "differ between services (signing.notice_key, signing.verify_keys). It is in notices.dead; it cannot be "
        "replayed."
    )
    return oncall_alert(
        oncall,
        signer,
        key="forged",
        revision=f"forged.{hashlib.sha256(forged.model_dump_json().encode()).hexdigest()[:16]}",
        facts=forged.incident.model_copy(update={"description": description}),
        requested_at=at,
        references=[forged.notice_id],
    )


class Notify:
    """The handler of both loops: fresh notices (``requested``) and retries that fell due (``retried``)."""

    def __init__(
        self,
        ledger: Ledger,
        dispatcher: Dispatcher,
        producer: KafkaProducer,
        topics: Topics,
        schedule: RetrySchedule,
        oncall: OncallSettings,
        signer: NoticeSigner,
        gate: DueGate | None = None,
        ack_timeout_s: float = 30.0,
        batch_budget_s: float = 120.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: NotifyMetrics | None = None,
    ) -> None:
        self._ledger = ledger
        self._metrics = metrics
        self._dispatcher = dispatcher
        self._producer = producer
        self._topics = topics
        self._schedule = schedule
        self._oncall = oncall
        self._signer = signer
        self._gate = gate
        self._ack_timeout_s = ack_timeout_s
        self._batch_budget_s = batch_budget_s
        self._clock = clock

    def requested(self, batch: Sequence[Received[NoticeRequested]]) -> None:
        self.process([Work(r.message) for r in batch], from_retry=False)

    def retried(self, batch: Sequence[Received[NoticeRetry]]) -> None:
        self.process(self.wait_until_due(batch), from_retry=True)

    def process(self, work: list[Work], from_retry: bool) -> None:
        work = self.verify(work)
        if not work:
            return
        states = self._ledger.delivery.notice_states([w.notice.notice_id for w in work])
        queue = self._ledger.delivery.queue_rows(sorted({w.key for w in work}))
        work = self.skip_settled(work, states, queue, from_retry)
        work = self.hold(work)
        outcomes = self.deliver(work, queue)
        self.publish(outcomes)
        self.record(outcomes)

    # -- 0. verify -----------------------------------------------------------------------------------------------

    def verify(self, work: list[Work]) -> list[Work]:
        """The notices whose signature verifies; the others are dead-lettered here, before anything else."""
        good: list[Work] = []
        forged: list[tuple[Work, str]] = []
        for w in work:
            try:
                self._signer.verify(w.notice)
            except SignatureError as exc:
                forged.append((w, str(exc)))
            else:
                good.append(w)
        if forged:
            self.reject(forged)
        return good

    def reject(self, forged: list[tuple[Work, str]]) -> None:
        now = self._clock()
        known = self._ledger.delivery.notice_states([w.notice.notice_id for w, _ in forged])
        for w, reason in forged:
            n = w.notice
            log.error(
                "notice signature does not verify, not sent",
                notice_id=n.notice_id, incident_id=n.incident_id, channel=n.channel.value, reason=reason,
            )  # fmt: skip
            dead = NoticeDead(
                notice_id=n.notice_id, incident_id=n.incident_id, recipient_id=n.recipient_id, audience=n.audience,
                channel=n.channel, attempts=w.attempts, failed_at=now, reason=reason, request=n,
            )  # fmt: skip
            send(self._producer, self._topics.dead, n.notice_id, dead)
            alert = forged_notice_alert(n, reason, self._oncall, now, self._signer)
            send(self._producer, self._topics.requested, alert.recipient_id, alert)
        self._producer.flush(timeout=self._ack_timeout_s)
        # Recorded dead under its id, as auto (a forged notice is never held for a person to approve), unless
        # the ledger knows that id: then the copy is the forgery, and the real notice keeps its state.
        fresh = [(w, reason) for w, reason in forged if w.notice.notice_id not in known]
        if fresh:
            self._ledger.delivery.record_requested(
                [w.notice.model_copy(update={"release": Release.AUTO}) for w, _ in fresh]
            )
            self._ledger.delivery.record_deliveries(
                [
                    DeliveryRecord(w.notice, w.key, "dead", attempts=w.attempts, detail=reason, at=now, hop=w.hop)
                    for w, reason in fresh
                ]
            )

    # -- 0. wait -----------------------------------------------------------------------------------------------

    def wait_until_due(self, batch: Sequence[Received[NoticeRetry]]) -> list[Work]:
        assert self._gate is not None, "the retry loop reads through a gate"
        now = self._clock()
        held: set[tuple[str, int]] = set()
        due: list[Work] = []
        for received in batch:  # in offset order within each partition
            where = (received.topic, received.partition)
            if where in held:
                continue
            retry = received.message
            if retry.due_at > now:
                self._gate.hold(received.topic, received.partition, received.offset, retry.due_at.timestamp())
                held.add(where)
                continue
            due.append(Work(retry.request, retry.attempts, retry.hop))
        return due

    # -- 1. skip -----------------------------------------------------------------------------------------------

    def skip_settled(
        self, work: list[Work], states: dict[str, NoticeState], queue: list[QueueRow], from_retry: bool
    ) -> list[Work]:
        waiting = {r.notice_id: r for r in queue if r.state == Queued.WAITING.value}
        newest: dict[str, Work] = {}
        for w in work:
            nid = w.notice.notice_id
            if states.get(nid) in DONE:
                log.info("notice already settled", notice_id=nid, state=states[nid])
                continue
            row = waiting.get(nid)
            if from_retry and (row is None or row.hop != w.hop):
                continue  # a stale copy: the ledger knows a newer one, or the notice no longer waits
            if not from_retry and row is not None:
                continue  # a redelivered request for a notice that waits on a retry topic: that copy owns it
            if nid not in newest or w.hop > newest[nid].hop:
                newest[nid] = w
        fresh = [w.notice for w in newest.values() if w.notice.notice_id not in states]
        if fresh:
            self._ledger.delivery.record_requested(fresh)
        return list(newest.values())

    # -- 2. hold -----------------------------------------------------------------------------------------------

    def hold(self, work: list[Work]) -> list[Work]:
        gated = [w.notice.notice_id for w in work if w.notice.release is not Release.AUTO]
        cleared = self._ledger.release.cleared(gated)
        ready = []
        for w in work:
            n = w.notice
            if n.release is not Release.AUTO and n.notice_id not in cleared:
                log.info("notice held", notice_id=n.notice_id, incident_id=n.incident_id, release=n.release.value)
                continue
            ready.append(w)
        return ready

    # -- 3, 4. render and send ---------------------------------------------------------------------------------

    def deliver(self, work: list[Work], queue: list[QueueRow]) -> list[Outcome]:
        waiting = [r for r in queue if r.state == Queued.WAITING.value]
        own = {r.notice_id: r for r in waiting}
        chains: dict[str, list[Work]] = {}
        for w in work:
            chains.setdefault(w.key, []).append(w)
        last = (datetime.max.replace(tzinfo=UTC), "")
        for chain in chains.values():
            # Waiting notices go in their queue order; fresh ones keep the order they were read in.
            chain.sort(
                key=lambda w: (
                    (own[w.notice.notice_id].queued_at, w.notice.notice_id) if w.notice.notice_id in own else last
                )
            )
        not_after = time.monotonic() + self._batch_budget_s
        in_batch = {w.notice.notice_id for w in work}
        elsewhere: dict[str, list[QueueRow]] = {}
        for row in waiting:
            if row.notice_id not in in_batch:
                elsewhere.setdefault(row.order_key, []).append(row)

        async def step(w: Work, before: list[Outcome]) -> Outcome:
            mine = own.get(w.notice.notice_id)
            ahead = [o.record.due_at for o in before if o.waits and o.record.due_at is not None]
            ahead += [
                r.due_at
                for r in elsewhere.get(w.key, [])
                if r.due_at is not None
                and (mine is None or (r.queued_at, r.notice_id) < (mine.queued_at, mine.notice_id))
            ]
            if ahead:
                return self._park(w, max(ahead), PARKED)
            return self._judge(w, await self._dispatcher.deliver(w.notice, not_after))

        return self._dispatcher.run_chains(list(chains.values()), step)

    def _judge(self, w: Work, attempt: Attempt) -> Outcome:
        now = self._clock()
        attempts = w.attempts + 1
        if attempt.deferred:  # not attempted: it waits its turn on the first retry topic, attempts unchanged
            return self._park(w, now + timedelta(seconds=self._schedule.delays_s[0]), DEFERRED)
        outcome = partial(DeliveryRecord, notice=w.notice, order_key=w.key, attempts=attempts, at=now)
        if attempt.delivered:
            receipt = attempt.receipt or ""
            record = outcome(
                outcome="delivered", detail=receipt, hop=w.hop, locale=attempt.locale, rendered=attempt.rendered
            )
            return Outcome(record)
        reason = str(attempt.error)
        if isinstance(attempt.error, RetryableDelivery):
            wait = self._schedule.after_failure(attempts, attempt.error.retry_after_s)
            if wait is not None:
                due = now + timedelta(seconds=wait.seconds)
                record = outcome(outcome="retry", detail=reason, hop=w.hop + 1, due_at=due)
                return Outcome(record, self._topics.retry(wait.topic_delay_s))
        return Outcome(outcome(outcome="dead", detail=reason, hop=w.hop))

    def _park(self, w: Work, behind_due: datetime, reason: str) -> Outcome:
        """The notice waits on a retry topic until just after ``behind_due``, without an attempt counted."""
        now = self._clock()
        due = max(behind_due, now) + PARK_MARGIN
        record = DeliveryRecord(
            notice=w.notice, order_key=w.key, outcome="parked", attempts=w.attempts, at=now, hop=w.hop + 1,
            due_at=due, detail=reason,
        )  # fmt: skip
        topic = self._topics.retry(self._schedule.topic_for((due - now).total_seconds()))
        return Outcome(record, topic)

    # -- 5. publish --------------------------------------------------------------------------------------------

    def publish(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            r, n = o.record, o.record.notice
            if r.outcome == "delivered":
                sent = NoticeSent(
                    notice_id=n.notice_id, incident_id=n.incident_id, recipient_id=n.recipient_id,
                    audience=n.audience, channel=n.channel, locale=r.locale or n.locale, attempts=r.attempts,
                    sent_at=r.at, receipt=r.detail,
                )  # fmt: skip
                send(self._producer, self._topics.sent, n.notice_id, sent)
            elif o.retry_topic is not None and r.due_at is not None:
                retry = NoticeRetry(
                    notice_id=n.notice_id, attempts=r.attempts, hop=r.hop, due_at=r.due_at, reason=r.detail, request=n
                )
                send(self._producer, o.retry_topic, n.recipient_id, retry)
            else:
                dead = NoticeDead(
                    notice_id=n.notice_id, incident_id=n.incident_id, recipient_id=n.recipient_id,
                    audience=n.audience, channel=n.channel, attempts=r.attempts, failed_at=r.at,
                    reason=r.detail, request=n,
                )  # fmt: skip
                send(self._producer, self._topics.dead, n.notice_id, dead)
                if n.audience is not Audience.ONCALL:  # an on-call alert about an on-call alert would never end
                    alert = oncall_notice(n, r.attempts, r.detail, self._oncall, r.at, self._signer)
                    send(self._producer, self._topics.requested, alert.recipient_id, alert)
        if outcomes:
            self._producer.flush(timeout=self._ack_timeout_s)

    # -- 6. record ---------------------------------------------------------------------------------------------

    def record(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        self._ledger.delivery.record_deliveries([o.record for o in outcomes])
        if self._metrics is not None:
            self._metrics.settled(o.record for o in outcomes)
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.record.outcome] = counts.get(o.record.outcome, 0) + 1
            if o.record.outcome in ("retry", "dead"):
                log.warning(
                    f"notice {'dead' if o.record.outcome == 'dead' else 'will be retried'}",
                    notice_id=o.record.notice.notice_id,
                    incident_id=o.record.notice.incident_id,
                    channel=o.record.notice.channel.value,
                    attempts=o.record.attempts,
                    reason=o.record.detail,
                    due_at=o.record.due_at.isoformat() if o.record.due_at else None,
                )
        log.info("notices handled", **counts)


class NotifyLoops:
    """The notifier's two loops: fresh notices, and retries that fell due.

    Each polls on a thread of its own and they take turns handling what they read, so a fresh notice is read as
    it comes even while the retry topics' poll waits. (Polled in turn on one thread, one loop's wait held up
    the other; and a retry poll that never waited, while fresh notices kept coming, left kafka-python unable
    to finish a rebalance of the retry group.)
    """

    name = "notify"

    def __init__(
        self,
        requested: ConsumerLoop[NoticeRequested],
        retries: ConsumerLoop[NoticeRetry],
        consumers: Sequence[KafkaConsumer | DueGate],
        dispatcher: Dispatcher,
        producer: KafkaProducer,
        ack_timeout_s: float,
    ) -> None:
        self.requested = requested
        self.retries = retries
        self.loops: list[ConsumerLoop[Any]] = [requested, retries]
        self._consumers = consumers
        self._dispatcher = dispatcher
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s

    def run_once(self) -> int:
        """One poll of each loop, one after the other (tests step the notifier with this)."""
        return self.requested.run_once() + self.retries.run_once()

    def run(self, stop: threading.Event) -> None:
        log.info("consumer started", consumer=self.name)
        try:
            run_together([self.requested, self.retries], stop)
        finally:
            self.close()
            log.info("consumer stopped", consumer=self.name)

    def close(self) -> None:
        for consumer in self._consumers:
            consumer.close(autocommit=False)
        self._producer.flush(timeout=self._ack_timeout_s)
        self._dispatcher.close()


def build(settings: Settings, datamap: DataMap, ledger: Ledger, metrics: NotifyMetrics | None = None) -> NotifyLoops:
    topics = topics_for(settings.kafka, settings.notify.retry_delays_s)
    if settings.kafka.create_topics:
        ensure_topics(settings.kafka, topics.partitions(settings.kafka))
    producer = make_producer(settings.kafka)
    batch = settings.notify.batch_size
    requested_consumer = make_consumer(settings.kafka, "notify", [topics.requested], max_poll_records=batch)
    gate = DueGate(make_consumer(settings.kafka, "notify.retry", topics.retries, max_poll_records=batch))
    # The rules say what each notice cites and must carry; read once, at start: a bad rules file stops it here.
    renderer = Renderer(settings.templates_dir, load_rules(settings.rules_dir))
    dispatcher = Dispatcher(settings, datamap, renderer, on_send=metrics.sent if metrics else None)
    handler = Notify(
        ledger,
        dispatcher,
        producer,
        topics,
        RetrySchedule(settings.notify.retry_delays_s, settings.notify.jitter),
        settings.oncall,
        NoticeSigner.from_settings(settings.signing),
        gate,
        settings.kafka.ack_timeout_s,
        settings.notify.batch_budget_s,
        metrics=metrics,
    )

    turns = Turns()

    def loop(name: str, consumer: KafkaConsumer | DueGate, model: type[M], handle: Handle[M]) -> ConsumerLoop[M]:
        return ConsumerLoop(
            name,
            consumer,
            producer,
            topics.invalid,
            model,
            handle,
            poll_timeout_ms=settings.kafka.poll_timeout_ms,
            ack_timeout_s=settings.kafka.ack_timeout_s,
            turns=turns,
        )

    return NotifyLoops(
        loop("notify", requested_consumer, NoticeRequested, handler.requested),
        loop("notify.retry", gate, NoticeRetry, handler.retried),
        [requested_consumer, gate],
        dispatcher,
        producer,
        settings.kafka.ack_timeout_s,
    )
