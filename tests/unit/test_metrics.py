"""The metrics module: what each metric counts, from the notifier's outcomes, the loops and the ledger."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from support import project_rules

from breachwire.dev.samples import controller_notices
from consumers.notify.errors import FinalDelivery, RetryableDelivery
from runtime import resources
from runtime.consumer import LoopStats
from runtime.datamap import load_datamap
from runtime.metrics import LedgerCollector, ServiceMetrics, sample
from runtime.probes import Liveness, Readiness, bounded
from runtime.settings import MetricsSettings
from runtime.store import Ledger
from runtime.store.clocks import ClockRow
from runtime.store.delivery import DeliveryRecord, NoticeState
from schemas import Channel, NoticeRequested, Release

EXAMPLES = resources.example_datamap()
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def notices(count: int = 2) -> list[NoticeRequested]:
    found = controller_notices(load_datamap(EXAMPLES), project_rules(), Channel.WEBHOOK, count)
    return [n.model_copy(update={"requested_at": NOW - timedelta(seconds=90)}) for n in found]


def record(notice: NoticeRequested, outcome: NoticeState, at: datetime = NOW) -> DeliveryRecord:
    return DeliveryRecord(notice, "key", outcome, attempts=1, detail="", at=at)


def test_two_services_in_one_process_each_count_on_their_own_registry() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    n = notices(1)[0]
    first.notify.settled([record(n, NoticeState.DELIVERED)])
    labels = {"audience": n.audience.value, "channel": n.channel.value, "outcome": "delivered"}
    assert sample(first.registry, "breachwire_notices_total", labels) == 1
    assert sample(second.registry, "breachwire_notices_total", labels) == 0
    assert first.intake is first.intake  # made once, however often asked for


def test_settled_notices_count_by_audience_channel_and_outcome_and_time_their_delivery() -> None:
    metrics = ServiceMetrics()
    a, b = notices(2)
    metrics.notify.settled(
        [record(a, NoticeState.DELIVERED), record(b, NoticeState.RETRY), record(b, NoticeState.PARKED)]
    )
    by = {"audience": a.audience.value, "channel": a.channel.value}
    assert sample(metrics.registry, "breachwire_notices_total", {**by, "outcome": "delivered"}) == 1
    assert sample(metrics.registry, "breachwire_notice_delivery_seconds_count", by) == 1
    assert sample(metrics.registry, "breachwire_notice_delivery_seconds_sum", by) == 90  # requested 90 s before
    # only a delivery has a delivery time
    assert sample(metrics.registry, "breachwire_notice_delivery_seconds_bucket", {**by, "le": "60.0"}) == 0
    assert sample(metrics.registry, "breachwire_notice_delivery_seconds_bucket", {**by, "le": "120.0"}) == 1


def test_each_send_is_timed_by_channel_and_result() -> None:
    metrics = ServiceMetrics()
    n = notices(1)[0]
    metrics.notify.sent(n, 0.2, None)
    metrics.notify.sent(n, 1.5, RetryableDelivery("HTTP 503"))
    metrics.notify.sent(n, 0.1, FinalDelivery("HTTP 410"))
    for result, seconds in (("ok", 0.2), ("retryable", 1.5), ("final", 0.1)):
        labels = {"channel": n.channel.value, "result": result}
        assert sample(metrics.registry, "breachwire_send_seconds_count", labels) == 1
        assert sample(metrics.registry, "breachwire_send_seconds_sum", labels) == pytest.approx(seconds)


def test_intake_answers_count_by_outcome() -> None:
    metrics = ServiceMetrics()
    metrics.intake.answered("subprocessor", "accepted", 0.02)
    metrics.intake.answered("subprocessor", "accepted", 0.03)
    metrics.intake.answered("subprocessor", "bad-signature", 0.001)
    labels = {"source": "subprocessor"}
    assert sample(metrics.registry, "breachwire_reports_total", {**labels, "outcome": "accepted"}) == 2
    assert sample(metrics.registry, "breachwire_reports_total", {**labels, "outcome": "bad-signature"}) == 1
    assert sample(metrics.registry, "breachwire_report_answer_seconds_count", {"outcome": "accepted"}) == 2


def test_the_steps_of_an_answer_are_timed_failed_or_not() -> None:
    metrics = ServiceMetrics()
    with metrics.intake.step("claim"):
        time.sleep(0.01)
    with pytest.raises(TimeoutError), metrics.intake.step("publish"):
        raise TimeoutError("no ack")
    registry = metrics.registry
    assert sample(registry, "breachwire_report_step_seconds_count", {"step": "claim"}) == 1
    assert sample(registry, "breachwire_report_step_seconds_sum", {"step": "claim"}) >= 0.01
    assert sample(registry, "breachwire_report_step_seconds_bucket", {"step": "claim", "le": "0.005"}) == 0
    assert sample(registry, "breachwire_report_step_seconds_count", {"step": "publish"}) == 1


class FakeLoop:
    def __init__(self, name: str, stats: LoopStats) -> None:
        self.name = name
        self.stats = stats


def test_loop_counts_and_lag_are_read_when_scraped() -> None:
    stats = LoopStats(running=True, records=10, invalid=1, batches=3, handle_seconds=0.5, last_poll=123.0)
    metrics = ServiceMetrics()
    metrics.watch_loops([FakeLoop("record.sent", stats)])
    consumer = {"consumer": "record.sent"}
    assert sample(metrics.registry, "breachwire_consumer_records_total", consumer) == 10
    stats.records += 5  # the loop goes on; the next scrape sees it
    stats.lag = {("notices.sent", 0): 7, ("notices.sent", 1): 0}
    assert sample(metrics.registry, "breachwire_consumer_records_total", consumer) == 15
    assert sample(metrics.registry, "breachwire_consumer_invalid_total", consumer) == 1
    assert (
        sample(metrics.registry, "breachwire_consumer_lag", {**consumer, "topic": "notices.sent", "partition": "0"})
        == 7
    )
    assert sample(metrics.registry, "breachwire_consumer_running", consumer) == 1
    stats.paused = (("notices.retry.5s", 2),)  # a retry partition whose next record is not yet due
    held = {**consumer, "topic": "notices.retry.5s", "partition": "2"}
    assert sample(metrics.registry, "breachwire_consumer_paused", held) == 1
    stats.paused = ()
    assert sample(metrics.registry, "breachwire_consumer_paused", held) == 0
    text = metrics.exposition().decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"breachwire_consumer_lag", "breachwire_consumer_records", "breachwire_ledger_errors"} <= names


def test_liveness_is_every_loop_running_and_polling() -> None:
    running = LoopStats(running=True, last_poll=1000.0)
    stalled = LoopStats(running=True, last_poll=500.0)
    assert Liveness([FakeLoop("a", running)], stall_s=300, clock=lambda: 1100.0).answer() == (
        200,
        {"status": "alive", "loops": {"a": "running"}},
    )
    status, body = Liveness([FakeLoop("a", running), FakeLoop("b", stalled)], 300, clock=lambda: 1100.0).answer()
    assert status == 503 and body["loops"] == {"a": "running", "b": "stalled"}
    status, body = Liveness([FakeLoop("a", LoopStats())], 300).answer()
    assert status == 503 and body["loops"] == {"a": "stopped"}


def test_a_loop_polling_on_out_of_its_consumer_group_for_longer_than_a_rebalance_is_not_alive() -> None:
    rejoining = LoopStats(running=True, last_poll=1099.0, unsettled_since=1000.0)
    assert Liveness([FakeLoop("a", rejoining)], stall_s=300, clock=lambda: 1100.0).answer()[0] == 200
    status, body = Liveness([FakeLoop("a", rejoining)], stall_s=300, clock=lambda: 1301.0).answer()
    assert status == 503 and body["loops"] == {"a": "out of its group"}


def test_a_check_that_hangs_counts_as_failed_after_the_timeout() -> None:
    started = time.monotonic()
    assert bounded(lambda: time.sleep(5) is None, 0.2) is False
    assert time.monotonic() - started < 2
    assert bounded(lambda: True, 1) is True

    def broken() -> bool:
        raise OSError("connection refused")

    assert bounded(broken, 1) is False
    status, body = Readiness({"kafka": lambda: True, "ledger": broken}, 1).answer()
    assert status == 503 and body == {"status": "unready", "checks": {"kafka": "ok", "ledger": "unreachable"}}


def test_each_service_has_its_own_port_and_notify_workers_count_up() -> None:
    ports = MetricsSettings()
    assert len({ports.port(s) for s in ("assess", "record", "clock", "notify")}) == 4
    assert ports.port("notify", 2) == ports.notify_port + 2
    assert MetricsSettings(notify_port=0).port("notify", 3) == 0  # any free port, for every worker


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.connect(f"sqlite:///{tmp_path / 'ledger.db'}")


def clock(customer: str, audience: str, started: datetime, due: datetime, incident: str = "inc-1") -> ClockRow:
    return ClockRow(incident, customer, "EU", audience, started, due, "GDPR", 0)


def test_ledger_counts_held_notices_the_retry_queue_and_clocks_past_each_share(ledger: Ledger) -> None:
    a, b = notices(2)
    held = b.model_copy(update={"release": Release.HELD})
    ledger.delivery.record_requested([a, held])
    start = NOW - timedelta(hours=60)
    for customer, due_in_h in (("c1", 40), ("c2", 12), ("c3", -1), ("c4", 1000)):
        ledger.clocks.track_clock(clock(customer, "controller", start, NOW + timedelta(hours=due_in_h)))
    # met: the controller notice to c5 is delivered, so its clock counts nowhere however late
    ledger.clocks.track_clock(clock(a.recipient_id, "controller", start, NOW - timedelta(hours=1), a.incident_id))
    ledger.delivery.record_deliveries([DeliveryRecord(a, "k", NoticeState.DELIVERED, 1, "250 OK", NOW)])

    metrics = ServiceMetrics(CollectorRegistry())
    metrics.watch_ledger_state(LedgerCollector(ledger.engine, (0.5, 0.8), every_s=0, now=lambda: NOW))
    r = metrics.registry

    assert sample(r, "breachwire_notices_held") == 1
    assert sample(r, "breachwire_retry_queue_depth") == 0
    delivered = {"audience": a.audience.value, "channel": a.channel.value, "state": "delivered"}
    assert sample(r, "breachwire_ledger_notices", delivered) == 1
    controller = {"audience": "controller"}
    # used: c1 60/100, c2 60/72 (83%), c3 overdue, c4 60/1060
    assert sample(r, "breachwire_clocks_past", {**controller, "share": "0.5"}) == 3
    assert sample(r, "breachwire_clocks_past", {**controller, "share": "0.8"}) == 2
    assert sample(r, "breachwire_clocks_past", {**controller, "share": "1"}) == 1


def test_ledger_counts_are_kept_for_every_s_then_asked_again(ledger: Ledger) -> None:
    metrics = ServiceMetrics()
    metrics.watch_ledger_state(LedgerCollector(ledger.engine, (0.5,), every_s=3600))
    assert sample(metrics.registry, "breachwire_notices_held") == 0
    ledger.delivery.record_requested([notices(1)[0].model_copy(update={"release": Release.HELD})])
    assert sample(metrics.registry, "breachwire_notices_held") == 0  # within every_s: as counted before


def test_ledger_errors_are_counted_by_class(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    metrics = ServiceMetrics()
    metrics.watch_ledger(engine)
    with pytest.raises(Exception, match="no such table"), engine.connect() as conn:
        conn.exec_driver_sql("SELECT * FROM nowhere")
    assert sample(metrics.registry, "breachwire_ledger_errors_total", {"error": "OperationalError"}) == 1
