"""The clock consumer on the real broker: reminders at half time and 80%, an escalation when a clock runs out."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support import read_topic, wait_until
from test_oncall import held_authority_notice

from consumers.clock.consumer import build
from runtime.kafka import make_producer, send
from runtime.ledger import Ledger
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Audience, Deadline, IncidentAssessed, NoticeRequested

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
DUE = START + timedelta(hours=72)


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    store = Ledger.connect(settings.ledger.url)
    yield store
    store.close()


def assessed(settings: Settings, incident: str) -> None:
    producer = make_producer(settings.kafka)
    message = IncidentAssessed(
        incident_id=incident,
        revision="confirmed.1",
        customer_id="acme-eu",
        assessed_at=START,
        jurisdictions=["eu"],
        deadlines=[Deadline(jurisdiction="eu", audience="authority", due_at=DUE, citation="GDPR 33(1)")],
    )
    send(producer, topics_for(settings.kafka).assessed, incident, message)
    producer.flush()
    producer.close()


def reminders(settings: Settings, expected: int) -> list[NoticeRequested]:
    records = read_topic(settings, topics_for(settings.kafka).requested, expected, timeout_s=5)
    return [NoticeRequested.model_validate_json(r.value) for r in records]


def test_reminders_at_half_time_and_80_percent_then_an_escalation(settings: Settings, ledger: Ledger) -> None:
    assessed(settings, "inc_clock1")
    at = {"now": START + timedelta(hours=10)}
    service = build(settings, ledger)
    service._now = lambda: at["now"]
    wait_until(lambda: service.run_once() >= 0 and bool(ledger.clocks("inc_clock1")), 30, "its clock", step_s=0)
    assert reminders(settings, 1) == []  # 14% of the time: nothing yet
    for hours, expected in ((37, 1), (40, 1), (58, 2), (73, 3), (90, 3)):
        at["now"] = START + timedelta(hours=hours)
        service.run_once()
        assert len(reminders(settings, expected)) == expected, hours
    sent = reminders(settings, 3)
    assert {n.audience for n in sent} == {Audience.ONCALL}
    assert "ESCALATION" in sent[-1].incident.description
    assert len({n.notice_id for n in sent}) == 3


def test_a_delivered_notice_stops_the_clock(settings: Settings, ledger: Ledger) -> None:
    assessed(settings, "inc_clock2")
    notice = held_authority_notice(ledger, "inc_clock2")
    ledger.mark_delivered(notice.notice_id, attempts=1, receipt="250 OK", locale="en", rendered="x", at=START)
    at = {"now": START + timedelta(hours=1)}
    service = build(settings, ledger)
    service._now = lambda: at["now"]
    wait_until(lambda: service.run_once() >= 0 and bool(ledger.clocks("inc_clock2")), 30, "its clock", step_s=0)
    at["now"] = DUE + timedelta(hours=1)
    service.run_once()
    assert reminders(settings, 1) == []
