"""The notify consumer: reads ``notices.requested``, ``notices.alerts`` and the retry topics, delivers, records,
then commits.

One Kafka consumer reads them all, in one group; a retry topic's partition whose next record is not yet due is
paused until it is (``gate``), so fresh notices are read as they come while retries wait; customer alerts wait
while legal notices (controller, authority) are there to read. The whole process runs on one
asyncio event loop: a batch's sends run concurrently on it, and between batches the loop polls Kafka.

Steps per batch, in order:
  1. read    — the records by topic: fresh notices, and retry copies that fell due (one not yet due holds its
               partition until it is);
  2. verify  — a notice whose signature is missing or does not verify is never sent: it goes to notices.dead,
               on-call is alerted, and the ledger records it dead (unless the ledger already knows a notice of
               that id: a forged copy must not settle the real one);
  3. decide  — (``decide``) skip what the ledger holds as settled, or what a newer copy on a retry topic owns
               (a redelivered message changes nothing); hold what the release policy holds (``held``: until an
               on-call responder releases it; ``approve``: until an approver approves it) in the ledger, whole,
               until a person lets it go; send the rest, in chains, one per address;
  4. deliver — render in the recipient's locale and send by the notice's channel, chains concurrently
               (``delivery``), the chains of customer alerts alone once the others are done; a notice whose
               turn comes while an earlier one to its address waits for a retry is parked on a retry topic
               behind it instead, so a follow-up never overtakes the first notice; one whose turn comes after
               the batch's time budget, or once the notifier is stopping, is deferred (parked, not attempted),
               so a slow host holds the partition no longer than that, and a stop does not wait for the rest
               of the batch;
  5. judge   — each attempt: delivered, retry (when, on which topic) or dead;
  6. publish — ``notices.sent``, a retry topic (with the due time), or ``notices.dead`` and an on-call notice;
               then wait for Kafka's acks;
  7. record  — the outcomes in the ledger, in one transaction;
and only then are the batch's offsets committed.

Why Kafka before the ledger: the ledger is the truth the next read of a message is judged by. When it says a
notice waits with hop n, the retry record with hop n is known to be on Kafka; a crash between the two steps
leaves at worst a second copy of a retry record (ignored by its hop, or a second attempt with the same
webhook-id / Message-ID), never a notice the ledger thinks is queued that no topic holds.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from kafka import KafkaProducer

from consumers.assess.rules import load_rules
from consumers.notify.decide import Decision, Plan, Send, Skip, Work, decide, judge, turn
from consumers.notify.delivery import Dispatcher, run_chains
from consumers.notify.gate import DueGate
from consumers.notify.render import Renderer
from consumers.notify.retry import RetrySchedule
from runtime.consumer import Batches, Received, Stopping
from runtime.datamap import MapSource
from runtime.kafka import ensure_topics, make_consumer, make_producer, send
from runtime.metrics import NotifyMetrics
from runtime.notice_signing import NoticeSigner, SignatureError
from runtime.oncall import oncall_alert
from runtime.settings import OncallSettings, Settings
from runtime.store import Ledger
from runtime.store.db import while_unreachable
from runtime.store.delivery import DeliveryRecord, NoticeState
from runtime.topics import Topics, topics_for
from schemas import Audience, NoticeDead, NoticeRequested, NoticeRetry, NoticeSent, Release

log = structlog.get_logger(__name__)

Read = NoticeRequested | NoticeRetry  # what the notifier's topics carry
T = TypeVar("T")


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
    """The handling of a batch, read → verify → decide → deliver → judge → publish → record."""

    def __init__(
        self,
        ledger: Ledger,
        dispatcher: Dispatcher,
        producer: KafkaProducer,
        topics: Topics,
        schedule: RetrySchedule,
        oncall: OncallSettings,
        signer: NoticeSigner,
        gate: DueGate,
        ack_timeout_s: float = 30.0,
        batch_budget_s: float = 120.0,
        ledger_wait_s: float = 60.0,
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
        self._ledger_wait_s = ledger_wait_s
        self._clock = clock

    async def handle(self, batch: Sequence[Received[Read]], stop: Stopping | None = None) -> None:
        """Handle a batch; once ``stop`` is set, sends not yet started are deferred, so a stopping notifier
        finishes its batch (the sends in flight, publish, record) without waiting out the rest."""
        work = self.verify(self.read(batch))
        if not work:
            return
        plan = self.decide(work)
        decisions = await self.deliver(plan.chains, stop)  # judged as each attempt ends
        self.publish(decisions)
        self.record(decisions)

    def ledger(self, step: str, call: Callable[[], T]) -> T:
        """A step's ledger work, waiting out an unreachable ledger for up to ``ledger_wait_s``."""
        return while_unreachable(call, self._ledger_wait_s, f"notify.{step}")

    # -- 1. read -----------------------------------------------------------------------------------------------

    def read(self, batch: Sequence[Received[Read]]) -> list[Work]:
        """The fresh notices, and the retry copies that are due; a retry partition whose next record is not due
        is held from that record on until it is."""
        now = self._clock()
        held: set[tuple[str, int]] = set()
        work: list[Work] = []
        for received in batch:  # in offset order within each partition
            message = received.message
            if isinstance(message, NoticeRequested):
                work.append(Work(message))
                continue
            where = (received.topic, received.partition)
            if where in held:
                continue
            if message.due_at > now:
                self._gate.hold(received.topic, received.partition, received.offset, message.due_at.timestamp())
                held.add(where)
                continue
            work.append(Work(message.request, message.attempts, message.hop, retried=True))
        return work

    # -- 2. verify ---------------------------------------------------------------------------------------------

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
        known = self.ledger(
            "reject", lambda: self._ledger.delivery.notice_states([w.notice.notice_id for w, _ in forged])
        )
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
            as_auto = [w.notice.model_copy(update={"release": Release.AUTO}) for w, _ in fresh]
            outcomes = [
                DeliveryRecord(w.notice, w.key, NoticeState.DEAD, attempts=w.attempts, detail=reason, at=now, hop=w.hop)
                for w, reason in fresh
            ]
            self.ledger("reject", lambda: self._ledger.delivery.record_requested(as_auto))
            self.ledger("reject", lambda: self._ledger.delivery.record_deliveries(outcomes))

    # -- 3. decide ---------------------------------------------------------------------------------------------

    def decide(self, work: list[Work]) -> Plan:
        """Skip, hold or send each notice, by what the ledger knows of it; the ledger learns the new ones."""
        gated = [w.notice.notice_id for w in work if w.notice.release is not Release.AUTO]
        states, queue, cleared = self.ledger(
            "decide",
            lambda: (
                self._ledger.delivery.notice_states([w.notice.notice_id for w in work]),
                self._ledger.delivery.queue_rows(sorted({w.key for w in work})),
                self._ledger.release.cleared(gated),
            ),
        )
        plan = decide(work, states, queue, cleared)
        for w, why in plan.skipped:
            if why is Skip.SETTLED:
                log.info("notice already settled", notice_id=w.notice.notice_id, state=states[w.notice.notice_id])
        for w in plan.held:
            n = w.notice
            log.info("notice held", notice_id=n.notice_id, incident_id=n.incident_id, release=n.release.value)
        if plan.first_seen:
            self.ledger("decide", lambda: self._ledger.delivery.record_requested(plan.first_seen))
        return plan

    # -- 4, 5. deliver and judge -------------------------------------------------------------------------------

    async def deliver(self, chains: list[list[Send]], stop: Stopping | None = None) -> list[Decision]:
        not_after = time.monotonic() + self._batch_budget_s

        def starting() -> bool:
            return time.monotonic() < not_after and not (stop is not None and stop.is_set())

        async def step(send: Send, before: list[Decision]) -> Decision:
            parked = turn(send, before, self._clock(), self._schedule)
            if parked is not None:
                return parked
            attempt = await self._dispatcher.deliver(send.work.notice, starting)
            return judge(send.work, attempt, self._clock(), self._schedule)

        # Legal first within a batch too (the gate holds customer alerts back only while legal notices are
        # waiting to be read): the chains holding any other notice are sent, then those of customer alerts alone.
        first = [c for c in chains if any(s.work.notice.audience is not Audience.CUSTOMER for s in c)]
        later = [c for c in chains if all(s.work.notice.audience is Audience.CUSTOMER for s in c)]
        return [*await run_chains(first, step), *await run_chains(later, step)]

    # -- 6. publish --------------------------------------------------------------------------------------------

    def publish(self, decisions: list[Decision]) -> None:
        for d in decisions:
            r, n = d.record, d.record.notice
            if r.outcome is NoticeState.DELIVERED:
                sent = NoticeSent(
                    notice_id=n.notice_id, incident_id=n.incident_id, recipient_id=n.recipient_id,
                    audience=n.audience, channel=n.channel, locale=r.locale or n.locale, attempts=r.attempts,
                    sent_at=r.at, receipt=r.detail,
                )  # fmt: skip
                send(self._producer, self._topics.sent, n.notice_id, sent)
            elif d.wait_topic_s is not None and r.due_at is not None:
                retry = NoticeRetry(
                    notice_id=n.notice_id, attempts=r.attempts, hop=r.hop, due_at=r.due_at, reason=r.detail, request=n
                )
                send(self._producer, self._topics.retry(d.wait_topic_s), n.recipient_id, retry)
            else:
                dead = NoticeDead(
                    notice_id=n.notice_id, incident_id=n.incident_id, recipient_id=n.recipient_id,
                    audience=n.audience, channel=n.channel, attempts=r.attempts, failed_at=r.at,
                    reason=r.detail, request=n,
                )  # fmt: skip
                send(self._producer, self._topics.dead, n.notice_id, dead)
                if d.alert_oncall:
                    alert = oncall_notice(n, r.attempts, r.detail, self._oncall, r.at, self._signer)
                    send(self._producer, self._topics.requested, alert.recipient_id, alert)
        if decisions:
            self._producer.flush(timeout=self._ack_timeout_s)

    # -- 7. record ---------------------------------------------------------------------------------------------

    def record(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        # The sends are done: waiting out a ledger outage here keeps them from going out again after a restart.
        self.ledger("record", lambda: self._ledger.delivery.record_deliveries([d.record for d in decisions]))
        if self._metrics is not None:
            self._metrics.settled(d.record for d in decisions)
        counts: dict[str, int] = {}
        for d in decisions:
            r = d.record
            counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
            if r.outcome in (NoticeState.RETRY, NoticeState.DEAD):
                log.warning(
                    "notice dead" if r.outcome is NoticeState.DEAD else "notice will be retried",
                    notice_id=r.notice.notice_id,
                    incident_id=r.notice.incident_id,
                    channel=r.notice.channel.value,
                    attempts=r.attempts,
                    reason=r.detail,
                    due_at=r.due_at.isoformat() if r.due_at else None,
                )
        log.info("notices handled", **counts)


class Notifier:
    """The notifier's loop: poll a batch, handle it, commit, until stopped; on the event loop it is run on."""

    name = "notify"

    def __init__(self, batches: Batches[Read], notify: Notify, dispatcher: Dispatcher) -> None:
        self._batches = batches
        self._notify = notify
        self._dispatcher = dispatcher

    @property
    def loops(self) -> list[Batches[Read]]:
        """What its metrics and liveness read (``stats``): its one consumer."""
        return [self._batches]

    async def run(self, stop: Stopping) -> None:
        log.info("consumer started", consumer=self.name)
        try:
            while not stop.is_set():
                await self.run_once(stop)
        finally:
            await self.aclose()
            log.info("consumer stopped", consumer=self.name)

    async def run_once(self, stop: Stopping | None = None) -> int:
        """One poll, handled and committed; returns the number of records read. (Polling blocks the event loop,
        which has nothing else to do between batches.)"""
        count, received = self._batches.read()
        if received:
            await self._notify.handle(received, stop)
        if count:
            self._batches.done()
        return count

    async def aclose(self) -> None:
        self._batches.close()
        await self._dispatcher.aclose()


def build(settings: Settings, datamap: MapSource, ledger: Ledger, metrics: NotifyMetrics | None = None) -> Notifier:
    topics = topics_for(settings.kafka, settings.notify.retry_delays_s)
    if settings.kafka.create_topics:
        ensure_topics(settings.kafka, topics.partitions(settings.kafka))
    producer = make_producer(settings.kafka)
    read = [*topics.notices, *topics.retries]
    gate = DueGate(
        make_consumer(settings.kafka, "notify", read, max_poll_records=settings.notify.batch_size),
        priority=(topics.requested, topics.alerts),
    )
    models: dict[str, type[Read]] = {topic: NoticeRetry for topic in topics.retries}
    models |= {topic: NoticeRequested for topic in topics.notices}
    # The rules say what each notice cites and must carry; read once, at start: a bad rules file stops it here.
    renderer = Renderer(settings.templates_dir, load_rules(settings.rules_dir))
    dispatcher = Dispatcher(settings, datamap, renderer, on_send=metrics.sent if metrics else None)
    notify = Notify(
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
        settings.ledger.unreachable_wait_s,
        metrics=metrics,
    )
    batches: Batches[Read] = Batches(
        "notify",
        gate,
        producer,
        topics.invalid,
        models,
        settings.kafka,
    )
    return Notifier(batches, notify, dispatcher)
