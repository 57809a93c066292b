"""The assess consumer on the real broker: a Twilio report reaches only call-center customers, with clocks."""

import threading
import uuid

import pytest
from support import a_report, assess_a_twilio_report, read_topic, wait_until

from consumers.assess.consumer import build
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Audience, IncidentAssessed, NoticeRequested, ReportStatus, Source

pytestmark = pytest.mark.integration


def test_a_twilio_report_reaches_only_call_center_customers(settings: Settings, datamap: DataMap) -> None:
    outcome = assess_a_twilio_report(settings, datamap)
    call_center, notices = outcome.call_center, outcome.notices

    assert {a.customer_id for a in outcome.assessed} == call_center
    assert len(notices) == sum(len(a.notice_ids) for a in outcome.assessed)
    assert {n.notice_id for n in notices} == {i for a in outcome.assessed for i in a.notice_ids}
    assert {n.recipient_id for n in notices} == call_center
    assert all(n.incident_id == outcome.reported.incident_id for n in notices)
    controller = [n for n in notices if n.audience is Audience.CONTROLLER]
    assert {n.recipient_id for n in controller} == call_center
    for notice in controller:
        assert notice.incident.data_categories == ["call_recordings", "phone_numbers", "call_metadata"]
        assert notice.deadlines and all(d.due_at is not None for d in notice.deadlines)
    sms = {n.recipient_id for n in notices if n.channel.value == "sms"}
    assert sms == {c for c in call_center if datamap.customers[c].sms}


def test_after_a_restart_a_follow_up_still_references_the_earlier_notices(settings: Settings, datamap: DataMap) -> None:
    topics = topics_for(settings.kafka)
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics, 10.0)
    first = a_report(status=ReportStatus.SUSPECTED, regions=[], data_categories=[])
    try:
        publisher.publish("twilio", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", first)
        loop = build(settings, datamap)
        wait_until(lambda: loop.run_once() > 0, 30, "the first report to be assessed", step_s=0)
        stopped = threading.Event()
        stopped.set()
        loop.run(stopped)  # stops at once: the assessor's memory goes with it

        follow_up = first.model_copy(update={"status": ReportStatus.CONFIRMED, "sequence": 2})
        publisher.publish("twilio", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", follow_up)
    finally:
        publisher.close()
    restarted = build(settings, datamap)
    wait_until(lambda: restarted.run_once() > 0, 30, "the follow-up to be assessed", step_s=0)

    call_center = [c for c in datamap.customers.values() if "call-center" in c.features]
    assessed = [
        IncidentAssessed.model_validate_json(r.value)
        for r in read_topic(settings, topics.assessed, 2 * len(call_center))
    ]
    expected = sum(len(a.notice_ids) for a in assessed)
    notices = [NoticeRequested.model_validate_json(r.value) for r in read_topic(settings, topics.notices, expected)]
    earlier = {
        (n.recipient_id, n.audience, n.channel, n.address): n.notice_id for n in notices if n.revision == "suspected.1"
    }
    later = [n for n in notices if n.revision == "confirmed.2"]
    assert earlier and len(later) == len(earlier)
    for notice in later:
        assert notice.references == [earlier[(notice.recipient_id, notice.audience, notice.channel, notice.address)]]
