"""A notify consumer killed with SIGKILL mid-delivery and started again: every notice delivered once."""

import time
import uuid

import pytest
from support import a_report, count_by_state, wait_until

from breachwire.dev.demo import Scenario, expected_notices
from breachwire.dev.sinks import Answer, SmtpSink, WebhookSink
from breachwire.dev.twilio import TwilioSink
from breachwire.stack import Stack
from consumers.assess.rules import load_rules
from producers.publish import ReportPublisher
from runtime.datamap import load_datamap
from runtime.kafka import make_producer
from runtime.settings import Settings, settings_env
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import Source

pytestmark = pytest.mark.integration


def test_sigkill_in_the_middle_still_delivers_every_notice_once(
    wired_settings: Settings, smtp_sink: SmtpSink, webhook_sink: WebhookSink, twilio_sink: TwilioSink
) -> None:
    settings = wired_settings
    # A slow receiver keeps deliveries in flight long enough to kill the notifier among them.
    webhook_sink.behaviour = lambda path, webhook_id, attempt: Answer(delay_s=0.15)
    datamap = load_datamap(settings.datamap_dir)
    aws = datamap.subprocessors["aws"]
    report = a_report(regions=list(aws.regions))  # every region: every customer
    expected = expected_notices(Scenario(aws.id, report), datamap, load_rules(settings.rules_dir), settings)
    by_channel = {
        channel: {nid for nid, e in expected.items() if e.channel == channel} for channel in ("email", "webhook")
    }

    stack = Stack(settings_env(settings), services=["assess", "notify"], log_dir=settings.state_dir / "logs")
    stack.start()
    try:
        publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
        reported = publisher.publish(aws.id, Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", report)
        publisher.close()
        wait_until(lambda: len(webhook_sink.received) >= 5, 90, "the first webhook deliveries")
        stack.kill("notify")
        assert len(webhook_sink.received) < len(by_channel["webhook"]), "the kill came too late to test anything"
        time.sleep(1)
        stack.start("notify")

        ledger = Ledger.connect(settings.ledger.url)
        wait_until(
            lambda: count_by_state(ledger, reported.incident_id).get("delivered") == len(expected),
            180,
            f"{len(expected)} delivered notices in the ledger",
        )
    finally:
        stack.stop()

    rows = ledger.delivery.notices(reported.incident_id)
    ledger.close()
    assert {r.notice_id for r in rows} == set(expected)
    assert {r.state for r in rows} == {"delivered"}
    # At the receivers every notice arrived; any duplicate carries the same id as the first.
    assert {h.webhook_id for h in webhook_sink.received} == by_channel["webhook"]
    assert {m.message_id.split("@")[0] for m in smtp_sink.received} == by_channel["email"]
    assert len({s.to for s in twilio_sink.received}) == sum(e.channel == "sms" for e in expected.values())
