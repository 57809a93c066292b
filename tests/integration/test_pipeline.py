"""The whole pipeline on the real broker, SMTP server and webhook receiver: report in, notices out, once."""

import email
import email.policy
import uuid
from typing import Any

import pytest
from support import Stepped, a_report, read_topic, wait_until

from breachwire.dev.sinks import SmtpSink, WebhookSink
from consumers.assess.consumer import build as build_assess
from consumers.notify.consumer import build as build_notify
from consumers.record.consumer import build as build_record
from producers.publish import ReportPublisher
from runtime.consumer import ConsumerLoop
from runtime.datamap import load_datamap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import IncidentReported, NoticeSent, Report, Source

pytestmark = pytest.mark.integration


def publish(settings: Settings, report: Report) -> IncidentReported:
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    try:
        return publisher.publish("linode-eu", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", report)
    finally:
        publisher.close()


def run_until(loops: list[ConsumerLoop[Any] | Stepped], condition: Any, timeout_s: float, what: str) -> None:
    def step() -> bool:
        for loop in loops:
            loop.run_once()
        return bool(condition())

    wait_until(step, timeout_s, what, step_s=0)


def test_a_report_reaches_every_controller_once(
    wired_settings: Settings, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    settings = wired_settings
    datamap = load_datamap(settings.datamap_dir)
    ledger = Ledger.connect(settings.ledger.url)
    eu = [c for c in datamap.customers.values() if c.region == "eu"]
    # Controllers by privacy email and webhook; account admins' operational alerts by email (SMS: not here).
    expected_emails = {c.privacy_email for c in eu} | {a for c in eu for a in c.admin_emails}
    expected_hooks = {f"/hooks/{c.id}" for c in eu if c.webhook_url}
    email_count = len(eu) + sum(len(c.admin_emails) for c in eu)

    reported = publish(settings, a_report(title="Linode EU <script>alert(1)</script>"))
    assess = build_assess(settings, datamap)
    notify = Stepped(build_notify(settings, datamap, ledger))
    loops: list[ConsumerLoop[Any] | Stepped] = [assess, notify, *build_record(settings, ledger)]
    total = email_count + len(expected_hooks)

    def delivered() -> list[str]:
        rows = ledger.delivery.notices(reported.incident_id)
        return [r.notice_id for r in rows if r.state == "delivered" and r.channel != "sms"]

    run_until(loops, lambda: len(delivered()) == total, 60, "every email and webhook notice delivered")

    assert {to for m in smtp_sink.received for to in m.to} == expected_emails
    assert {h.path for h in webhook_sink.received} == expected_hooks
    assert webhook_sink.rejected == 0  # every signature verified with the customer's secret

    mail = email.message_from_bytes(smtp_sink.received[0].path.read_bytes(), policy=email.policy.default)
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert mail["Message-ID"].startswith("<ntc_")

    sent = read_topic(settings, topics_for(settings.kafka).sent, total)
    assert {NoticeSent.model_validate_json(r.value).notice_id for r in sent} >= set(delivered())
    requested = len(ledger.delivery.notices(reported.incident_id))

    # The same report again (a replay, or a re-sent webhook): same ids, nothing sent twice.
    publish(settings, reported.report)
    wait_until(lambda: assess.run_once() > 0, 30, "the replayed report to be assessed", step_s=0)
    redelivered = [0]

    def notify_read_all() -> bool:
        redelivered[0] += notify.run_once()
        return redelivered[0] >= total

    wait_until(notify_read_all, 30, "the replayed notices to reach notify", step_s=0)
    assert len(smtp_sink.received) == email_count
    assert len(webhook_sink.received) == len(expected_hooks)
    assert len(ledger.delivery.notices(reported.incident_id)) == requested
    notify.close()
    ledger.close()


def test_an_unparseable_message_goes_to_the_dead_letter_topic(settings: Settings) -> None:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    producer.send(topics.reported, key=b"x", value=b'{"not": "a report"}').get(timeout=10)
    producer.close()
    loop = build_assess(settings, load_datamap(settings.datamap_dir))
    wait_until(lambda: loop.run_once() > 0, 30, "the bad message to be read", step_s=0)
    [record] = read_topic(settings, topics.invalid, 1)
    assert b"incident_id" in record.value and b'"consumer":"assess"' in record.value
