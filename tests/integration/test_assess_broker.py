"""The assess consumer on the real broker: a Twilio report reaches only call-center customers, with clocks."""

import uuid

import pytest
from support import a_report, read_topic, wait_until

from consumers.assess.consumer import build
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Audience, IncidentAssessed, NoticeRequested, Source

pytestmark = pytest.mark.integration


def test_a_twilio_report_reaches_only_call_center_customers(settings: Settings, datamap: DataMap) -> None:
    topics = topics_for(settings.kafka)
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics, 10.0)
    try:
        reported = publisher.publish(
            "twilio", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", a_report(regions=[], data_categories=[])
        )
    finally:
        publisher.close()
    call_center = {c.id for c in datamap.customers.values() if "call-center" in c.features}

    loop = build(settings, datamap)
    wait_until(lambda: loop.run_once() > 0, 30, "the report to be assessed", step_s=0)

    assessed = [
        IncidentAssessed.model_validate_json(r.value) for r in read_topic(settings, topics.assessed, len(call_center))
    ]
    assert {a.customer_id for a in assessed} == call_center
    expected = sum(len(a.notice_ids) for a in assessed)
    notices = [NoticeRequested.model_validate_json(r.value) for r in read_topic(settings, topics.requested, expected)]
    assert len(notices) == expected
    assert {n.notice_id for n in notices} == {i for a in assessed for i in a.notice_ids}
    assert {n.recipient_id for n in notices} == call_center
    assert all(n.incident_id == reported.incident_id for n in notices)
    controller = [n for n in notices if n.audience is Audience.CONTROLLER]
    assert {n.recipient_id for n in controller} == call_center
    for notice in controller:
        assert notice.incident.data_categories == ["call_recordings", "phone_numbers", "call_metadata"]
        assert notice.deadlines and all(d.due_at is not None for d in notice.deadlines)
    sms = {n.recipient_id for n in notices if n.channel.value == "sms"}
    assert sms == {c for c in call_center if datamap.customers[c].sms}
