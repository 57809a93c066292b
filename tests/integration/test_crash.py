"""A notify consumer killed with SIGKILL mid-delivery and started again: every notice delivered once."""

import time
import uuid

import pytest
from support import a_report, settings_env, wait_until

from breachwire.sinks import Answer, SmtpSink, WebhookSink
from breachwire.stack import Stack
from producers.publish import ReportPublisher
from runtime.datamap import load_datamap
from runtime.kafka import make_producer
from runtime.ledger import Ledger
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Source

pytestmark = pytest.mark.integration


def test_sigkill_in_the_middle_still_delivers_every_notice_once(
    wired_settings: Settings, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    settings = wired_settings
    # A slow receiver keeps deliveries in flight long enough to kill the notifier among them.
    webhook_sink.behaviour = lambda path, webhook_id, attempt: Answer(delay_s=0.15)
    datamap = load_datamap(settings.datamap_dir)
    aws = datamap.subprocessors["aws"]
    everyone = list(datamap.customers.values())
    expected = sum(bool(c.privacy_email or c.admin_emails) + bool(c.webhook_url) for c in everyone)

    stack = Stack(settings_env(settings), services=["assess", "notify"], log_dir=settings.state_dir / "logs")
    stack.start()
    try:
        publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
        reported = publisher.publish(
            aws.id, Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", a_report(regions=list(aws.regions))
        )
        publisher.close()
        wait_until(lambda: len(webhook_sink.received) + len(smtp_sink.received) >= 8, 90, "the first deliveries")
        stack.kill("notify")
        delivered_before_restart = len(webhook_sink.received) + len(smtp_sink.received)
        assert delivered_before_restart < expected, "the kill came too late to test anything"
        time.sleep(1)
        stack.start("notify")

        ledger = Ledger.connect(settings.ledger.url)
        wait_until(
            lambda: ledger.count_by_state(reported.incident_id).get("delivered") == expected,
            120,
            f"{expected} delivered notices in the ledger",
        )
    finally:
        stack.stop()

    rows = ledger.notices(reported.incident_id)
    assert len(rows) == expected
    assert {r.state for r in rows} == {"delivered"}
    # At the receivers every notice arrived; any duplicate carries the same id as the first.
    webhook_ids = [h.webhook_id for h in webhook_sink.received]
    assert set(webhook_ids) == {r.notice_id for r in rows if r.channel == "webhook"}
    mail_ids = {m.message_id.split("@")[0] for m in smtp_sink.received}
    assert mail_ids == {r.notice_id for r in rows if r.channel == "email"}
    ledger.close()
