"""Every metric breachwire exports, in one place (docs/operations.md lists them).

Each service process has a ``ServiceMetrics`` with a registry of its own, passed to what it instruments: a
service built twice in one process (tests) registers twice without clashing, and nothing lands in
prometheus_client's global registry. What the consumer loops and the ledger already know is read when scraped
(custom collectors); what happens once (a report answered, a notice sent) is counted as it happens.
"""

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, event, exists, func, or_, select
from sqlalchemy.engine import Engine, ExceptionContext

from runtime.consumer import LoopStats
from runtime.store.delivery import DeliveryRecord, NoticeState
from runtime.store.tables import clocks, incidents, notice_queue, notices
from schemas import NOTICE_AUDIENCE_FOR, NoticeRequested

# seconds from a notice's request to its delivery: seconds when all goes well, days when a hold or retries last
DELIVERY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, 72 * 3600)
# one send to an SMTP server, a webhook receiver or Twilio; its deadline is 30 s by default
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# one ledger round trip or one acks=all produce: a millisecond or two when all is well
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SEND_ERRORS = {"RetryableDelivery": "retryable", "FinalDelivery": "final"}


class Loop(Protocol):
    """A consumer loop as its collector reads it (``runtime.consumer.Batches``: a ConsumerLoop, the notifier's)."""

    name: str
    stats: LoopStats


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reports = Counter(
            "breachwire_reports",
            "Reports answered by the intake, by source and outcome: accepted, repeated (a webhook-id answered "
            "before), or the problem type of the refusal (bad-signature, invalid-field, rate-limited, ...).",
            ["source", "outcome"],
            registry=registry,
        )
        self.answer_seconds = Histogram(
            "breachwire_report_answer_seconds",
            "Time from a report's arrival to its answer, by outcome.",
            ["outcome"],
            buckets=ANSWER_BUCKETS,
            registry=registry,
        )
        self.step_seconds = Histogram(
            "breachwire_report_step_seconds",
            "Time a report's answer waited on each outside party, by step: claim (the ledger's round trip for "
            "its webhook-id) and publish (Kafka's acks=all).",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=registry,
        )

    def answered(self, source: str, outcome: str, seconds: float) -> None:
        self.reports.labels(source, outcome).inc()
        self.answer_seconds.labels(outcome).observe(seconds)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step of a report's answer (failed or not: a slow failure is what an operator looks for)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.step_seconds.labels(name).observe(time.perf_counter() - started)


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notices = Counter(
            "breachwire_notices",
            "Notices the notifier settled for now, by audience, channel and outcome: delivered, retry (failed, "
            "waits for another attempt), parked (waits behind an earlier notice, no attempt made) or dead.",
            ["audience", "channel", "outcome"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "breachwire_notice_delivery_seconds",
            "Time from a notice's request (requested_at) to its delivery, holds and retries included.",
            ["audience", "channel"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.send_seconds = Histogram(
            "breachwire_send_seconds",
            "Time one send attempt took (rendering excluded), by channel and result: ok, retryable or final.",
            ["channel", "result"],
            buckets=SEND_BUCKETS,
            registry=registry,
        )

    def sent(self, notice: NoticeRequested, seconds: float, error: Exception | None) -> None:
        """One attempt, as the dispatcher saw it (``consumers.notify.errors`` names the errors)."""
        result = "ok" if error is None else SEND_ERRORS.get(type(error).__name__, "final")
        self.send_seconds.labels(notice.channel.value, result).observe(seconds)

    def settled(self, records: Iterable[DeliveryRecord]) -> None:
        """A batch's outcomes, as recorded in the ledger."""
        for r in records:
            n = r.notice
            self.notices.labels(n.audience.value, n.channel.value, r.outcome.value).inc()
            if r.outcome is NoticeState.DELIVERED:
                seconds = (r.at - n.requested_at).total_seconds()
                self.delivery_seconds.labels(n.audience.value, n.channel.value).observe(max(0.0, seconds))


class LoopCollector(Collector):
    """Each consumer loop's counts and lag, read when scraped."""

    def __init__(self, loops: Sequence[Loop]) -> None:
        self._loops = loops

    def describe(self) -> list[Metric]:
        return []  # (collected at scrape time only, never at registration)

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "breachwire_consumer_lag",
            "Records on a partition not yet handled and committed by the consumer: the end offset it last saw "
            "less its committed position, as of its last poll.",
            labels=["consumer", "topic", "partition"],
        )
        by = ["consumer"]
        records = CounterMetricFamily("breachwire_consumer_records", "Records a consumer read.", labels=by)
        invalid = CounterMetricFamily(
            "breachwire_consumer_invalid", "Records a consumer could not parse (sent to messages.invalid).", labels=by
        )
        batches = CounterMetricFamily("breachwire_consumer_batches", "Batches handled and committed.", labels=by)
        busy = CounterMetricFamily(
            "breachwire_consumer_handle_seconds", "Time spent handling batches (its rate: time busy).", labels=by
        )
        polled = GaugeMetricFamily(
            "breachwire_consumer_last_poll_timestamp_seconds", "When the consumer last polled Kafka.", labels=by
        )
        running = GaugeMetricFamily("breachwire_consumer_running", "1 while the consumer loop runs.", labels=by)
        unsettled = GaugeMetricFamily(
            "breachwire_consumer_unsettled_since_timestamp_seconds",
            "When the consumer's group membership left the stable state (joining, rebalancing); 0 while stable.",
            labels=by,
        )
        paused = GaugeMetricFamily(
            "breachwire_consumer_paused",
            "1 for each partition the consumer holds but does not read for now (a retry whose record is not yet "
            "due, customer alerts while legal notices wait), as of its last poll.",
            labels=["consumer", "topic", "partition"],
        )
        for loop in self._loops:
            s = loop.stats
            for (topic, partition), behind in sorted(s.lag.items()):
                lag.add_metric([loop.name, topic, str(partition)], behind)
            for topic, partition in s.paused:
                paused.add_metric([loop.name, topic, str(partition)], 1)
            records.add_metric([loop.name], s.records)
            invalid.add_metric([loop.name], s.invalid)
            batches.add_metric([loop.name], s.batches)
            busy.add_metric([loop.name], s.handle_seconds)
            polled.add_metric([loop.name], s.last_poll)
            running.add_metric([loop.name], 1 if s.running else 0)
            unsettled.add_metric([loop.name], s.unsettled_since)
        return [lag, paused, records, invalid, batches, busy, polled, running, unsettled]


class LedgerCollector(Collector):
    """Counts from the ledger, for the whole deployment: notices by state, the retry queue, held notices and the
    legal clocks running out. Queried when scraped, at most every ``every_s`` (a few aggregate queries)."""

    def __init__(
        self,
        engine: Engine,
        fractions: Sequence[float],
        every_s: float = 15.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._shares = sorted({*fractions, 1.0})
        self._every_s = every_s
        self._now = now
        self._lock = threading.Lock()
        self._taken = 0.0
        self._last: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # two scrapes at once query once
            if not self._last or time.monotonic() - self._taken >= self._every_s:
                self._last = self._query()  # a ledger that fails raises: the scrape fails, and says so
                self._taken = time.monotonic()
            return list(self._last)

    def _query(self) -> list[Metric]:
        by_state = GaugeMetricFamily(
            "breachwire_ledger_notices",
            "Notices in the ledger by audience, channel and state (requested, held, queued, delivered, dead, ...).",
            labels=["audience", "channel", "state"],
        )
        held = GaugeMetricFamily("breachwire_notices_held", "Notices held for an on-call release or an approval.")
        queue = GaugeMetricFamily(
            "breachwire_retry_queue_depth", "Notices waiting on a retry topic for another attempt or their turn."
        )
        past = GaugeMetricFamily(
            "breachwire_clocks_past",
            "Legal clocks of incidents not dismissed whose notice is not delivered and that have used at least "
            "this share of their time (1: overdue), by the clock's audience.",
            labels=["audience", "share"],
        )
        count = func.count()
        # a clock is met once a notice of the audience that answers its duty is delivered (as the clock service judges)
        mapped = ((clocks.c.audience == duty.value, notice.value) for duty, notice in NOTICE_AUDIENCE_FOR.items())
        audience = case(*mapped, else_=clocks.c.audience)
        met = exists().where(
            notices.c.incident_id == clocks.c.incident_id,
            notices.c.state == NoticeState.DELIVERED.value,
            notices.c.audience == audience,
            or_(audience == "authority", notices.c.recipient_id == clocks.c.customer_id),
        )
        dismissed = select(incidents.c.incident_id).where(incidents.c.status == "dismissed")
        open_clocks = (
            select(clocks.c.audience, clocks.c.started_at, clocks.c.due_at, count)
            .where(clocks.c.incident_id.not_in(dismissed), ~met)
            .group_by(clocks.c.audience, clocks.c.started_at, clocks.c.due_at)
        )
        with self._engine.connect() as conn:
            states = conn.execute(
                select(notices.c.audience, notices.c.channel, notices.c.state, count).group_by(
                    notices.c.audience, notices.c.channel, notices.c.state
                )
            ).all()
            waiting = conn.execute(select(count).where(notice_queue.c.state == NoticeState.WAITING.value)).scalar_one()
            running = conn.execute(open_clocks).all()
        for aud, channel, state, n in states:
            by_state.add_metric([aud, channel, state], n)
        held.add_metric([], sum(n for _, _, state, n in states if state == NoticeState.HELD.value))
        queue.add_metric([], waiting)
        now = self._now()
        totals: dict[tuple[str, float], int] = {}
        for aud, started, due, n in running:
            span = (due - started).total_seconds()
            used = (now - started).total_seconds() / span if span > 0 else 1.0
            for share in self._shares:
                if used >= share:
                    totals[(aud, share)] = totals.get((aud, share), 0) + n
        for aud in sorted({aud for aud, *_ in running}):
            for share in self._shares:
                past.add_metric([aud, f"{share:g}"], totals.get((aud, share), 0))
        return [by_state, held, queue, past]


class ServiceMetrics:
    """The metrics of one service process, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.ledger_errors = Counter(
            "breachwire_ledger_errors",
            "Errors the ledger's database raised (connection lost, timeout, constraint, ...), by error class.",
            ["error"],
            registry=self.registry,
        )
        self._intake: IntakeMetrics | None = None
        self._notify: NotifyMetrics | None = None

    @property
    def intake(self) -> IntakeMetrics:
        if self._intake is None:
            self._intake = IntakeMetrics(self.registry)
        return self._intake

    @property
    def notify(self) -> NotifyMetrics:
        if self._notify is None:
            self._notify = NotifyMetrics(self.registry)
        return self._notify

    def watch_ledger(self, engine: Engine) -> None:
        """Count every error the ledger's database raises (SQLAlchemy's own error event)."""

        def count(context: ExceptionContext) -> None:
            error = context.sqlalchemy_exception or context.original_exception
            self.ledger_errors.labels(type(error).__name__).inc()

        event.listen(engine, "handle_error", count)

    def watch_loops(self, loops: Sequence[Loop]) -> None:
        self.registry.register(LoopCollector(loops))

    def watch_ledger_state(self, collector: LedgerCollector) -> None:
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The text format (for the FastAPI route; the consumers' server negotiates the format itself)."""
        return generate_latest(self.registry)


def sample(registry: CollectorRegistry, name: str, labels: Mapping[str, str] | None = None) -> float:
    """One sample's value, 0 when absent (tests and benchmarks read metrics with it)."""
    value = registry.get_sample_value(name, dict(labels or {}))
    return 0.0 if value is None else value
