"""The clock consumer on the real broker: reminders at half time and 80%, an escalation when a clock runs out."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support import a_report, held_authority_notice, read_topic, record_attempt, wait_until

from consumers.clock.consumer import build
from runtime.kafka import make_producer, send
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import (
    Audience,
    Deadline,
    IncidentAssessed,
    IncidentReported,
    NoticeRequested,
    Release,
    ReportStatus,
    Source,
    notice_id,
)

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
    wait_until(lambda: service.run_once() >= 0 and bool(ledger.clocks.clocks("inc_clock1")), 30, "its clock", step_s=0)
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
    record_attempt(ledger, notice, "delivered", at=START)
    at = {"now": START + timedelta(hours=1)}
    service = build(settings, ledger)
    service._now = lambda: at["now"]
    wait_until(lambda: service.run_once() >= 0 and bool(ledger.clocks.clocks("inc_clock2")), 30, "its clock", step_s=0)
    at["now"] = DUE + timedelta(hours=1)
    service.run_once()
    assert reminders(settings, 1) == []


CONTROLLER_DUE = START + timedelta(hours=24)


def held_controller_notice(ledger: Ledger, incident: str) -> NoticeRequested:
    """A controller notice to acme-eu that the release policy holds, as the ledger records it."""
    notice = held_authority_notice(ledger, f"{incident}other").model_copy(
        update={
            "notice_id": notice_id(incident, "acme-eu", "controller", "email", "suspected.1"),
            "incident_id": incident,
            "revision": "suspected.1",
            "recipient_id": "acme-eu",
            "audience": Audience.CONTROLLER,
            "address": "privacy@acmeeu.example",
            "release": Release.HELD,
        }
    )
    ledger.delivery.record_requested([notice])
    return notice


def assessed_with_controller_clock(settings: Settings, incident: str) -> None:
    producer = make_producer(settings.kafka)
    message = IncidentAssessed(
        incident_id=incident,
        revision="suspected.1",
        customer_id="acme-eu",
        assessed_at=START,
        jurisdictions=["eu"],
        deadlines=[
            Deadline(jurisdiction="eu", audience="authority", due_at=DUE, citation="GDPR 33(1)"),
            Deadline(jurisdiction="eu", audience="controller", due_at=CONTROLLER_DUE, citation="GDPR 33(2)"),
        ],
    )
    send(producer, topics_for(settings.kafka).assessed, incident, message)
    producer.flush()
    producer.close()


def hold_reminders(settings: Settings, expected: int) -> list[NoticeRequested]:
    return [n for n in reminders(settings, expected) if n.revision.startswith("hold.")]


def test_held_notices_remind_oncall_at_half_time_and_escalate_at_80_percent_of_the_controller_clock(
    settings: Settings, ledger: Ledger
) -> None:
    assessed_with_controller_clock(settings, "inc_hold1")
    held_controller_notice(ledger, "inc_hold1")
    at = {"now": START + timedelta(hours=10)}
    service = build(settings, ledger)
    service._now = lambda: at["now"]
    wait_until(
        lambda: service.run_once() >= 0 and len(ledger.clocks.clocks("inc_hold1")) == 2, 30, "its clocks", step_s=0
    )
    assert hold_reminders(settings, 1) == []  # 42% of the controller's 24 hours: nothing yet
    at["now"] = START + timedelta(hours=12)  # half of the earliest clock it affects
    service.run_once()
    [half] = hold_reminders(settings, 2)
    assert half.audience is Audience.ONCALL and half.incident_id == "inc_hold1"
    assert (
        "1 notice(s) held for release, and 50% of the earliest clock they affect is used" in half.incident.description
    )
    assert "breachwire incident release inc_hold1" in half.incident.description
    assert [d.due_at for d in half.deadlines] == [CONTROLLER_DUE]
    at["now"] = START + timedelta(hours=13)
    service.run_once()
    assert len(hold_reminders(settings, 3)) == 1  # the same stage is one reminder
    at["now"] = START + timedelta(hours=20)  # 83% of the controller clock, still held
    service.run_once()
    sent = hold_reminders(settings, 2)
    assert len(sent) == 2 and sent[-1].incident.description.startswith("ESCALATION: 80% of the controller clock")
    assert len({n.notice_id for n in sent}) == 2
    assert len(reminders(settings, 3)) == 2  # they stand for the customer's own clock reminders
    at["now"] = CONTROLLER_DUE + timedelta(minutes=1)  # still held when the controller's deadline passes
    service.run_once()
    [passed] = [n for n in reminders(settings, 3) if n.revision.startswith("clock.")]
    assert passed.incident.description.startswith("ESCALATION: deadline passed — controller notice")


def test_a_release_stops_the_held_notice_reminders(settings: Settings, ledger: Ledger) -> None:
    assessed_with_controller_clock(settings, "inc_hold2")
    ledger.incidents.record_report(
        IncidentReported(
            incident_id="inc_hold2",
            subprocessor_id="linode-eu",
            source=Source.SUBPROCESSOR,
            delivery_id="msg_hold2",
            received_at=START,
            report=a_report(status=ReportStatus.SUSPECTED, aware_at=START),
        )
    )
    held_controller_notice(ledger, "inc_hold2")
    at = {"now": START + timedelta(hours=12)}
    service = build(settings, ledger)
    service._now = lambda: at["now"]
    wait_until(
        lambda: service.run_once() >= 0 and len(ledger.clocks.clocks("inc_hold2")) == 2, 30, "its clocks", step_s=0
    )
    service.run_once()
    assert len(hold_reminders(settings, 2)) == 1
    count, _ = ledger.release.release("inc_hold2", None, by="alice", reason="checked", at=at["now"])
    assert count == 1
    at["now"] = START + timedelta(hours=20)
    service.run_once()
    assert len(hold_reminders(settings, 4)) == 1  # released: no escalation


def test_a_dismissed_incidents_clocks_stop(settings: Settings, ledger: Ledger) -> None:
    assessed(settings, "inc_clock3")
    at = {"now": START + timedelta(hours=1)}
    service = build(settings, ledger)
    service._now = lambda: at["now"]
    wait_until(lambda: service.run_once() >= 0 and bool(ledger.clocks.clocks("inc_clock3")), 30, "its clock", step_s=0)
    ledger.incidents.record_report(
        IncidentReported(
            incident_id="inc_clock3",
            subprocessor_id="linode-eu",
            source=Source.ONCALL,
            delivery_id="msg_clock3",
            received_at=START,
            report=a_report(status=ReportStatus.DISMISSED, aware_at=START),
        )
    )
    at["now"] = DUE + timedelta(hours=1)
    service.run_once()
    assert reminders(settings, 1) == []  # no breach, no deadline: not even the escalation
