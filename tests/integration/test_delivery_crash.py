"""2,000 webhook notices, the notifier killed with SIGKILL among them and started again: every notice delivered,
and a notice the receiver saw twice carried the same webhook-id both times."""

import time
from collections import Counter

import pytest
from support import settings_env, wait_until

from breachwire.sinks import Answer, WebhookSink
from breachwire.stack import Stack
from consumers.notify.samples import notice_from_report, sample_report
from runtime.datamap import load_datamap
from runtime.kafka import make_producer, send
from runtime.ledger import Ledger
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Audience, Channel, NoticeKind, notice_id

pytestmark = pytest.mark.integration

COUNT = 2000


def test_sigkill_among_2000_webhook_notices_loses_none(wired_settings: Settings, webhook_sink: WebhookSink) -> None:
    settings = wired_settings
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(delay_s=0.02)  # keeps deliveries in flight
    datamap = load_datamap(settings.datamap_dir)
    customers = [c for c in datamap.customers.values() if c.webhook_url and c.webhook_secret]
    report = sample_report(NoticeKind.FOLLOW_UP)
    expected = set()
    producer = make_producer(settings.kafka)
    requested = topics_for(settings.kafka).requested
    for i in range(COUNT):
        customer = customers[i % len(customers)]
        base = notice_from_report(report, datamap, Audience.CONTROLLER, Channel.WEBHOOK, customer=customer)
        revision = f"update.{i + 2}"
        notice = base.model_copy(
            update={
                "revision": revision,
                "notice_id": notice_id(base.incident_id, customer.id, "controller", "webhook", revision),
            }
        )
        expected.add(notice.notice_id)
        send(producer, requested, notice.recipient_id, notice)
    producer.flush(timeout=30)
    producer.close()

    stack = Stack(settings_env(settings), services=["notify"], log_dir=settings.state_dir / "logs")
    stack.start()
    ledger = Ledger.connect(settings.ledger.url)
    try:
        wait_until(lambda: len(webhook_sink.received) >= 300, 120, "the first deliveries")
        stack.kill("notify")
        assert len(webhook_sink.webhook_ids()) < COUNT, "the kill came too late to test anything"
        time.sleep(0.5)
        stack.start("notify")
        wait_until(lambda: ledger.count_by_state().get("delivered") == COUNT, 300, f"{COUNT} delivered notices")
    finally:
        stack.stop()

    assert ledger.count_by_state() == {"delivered": COUNT}
    received = Counter(h.webhook_id for h in webhook_sink.received)
    assert set(received) == expected  # every notice arrived, under its own id
    assert webhook_sink.rejected == 0  # every attempt, first or repeated, was signed for its id
    ledger.close()
