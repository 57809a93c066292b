"""The ledger's behaviour on SQLite and PostgreSQL alike (the `ledger` fixture runs each test on both)."""

from datetime import UTC, datetime, timedelta

from runtime.ledger import Ledger, NoticeState
from schemas import (
    Audience,
    Channel,
    IncidentAssessed,
    IncidentFacts,
    IncidentReported,
    NoticeKind,
    NoticeRequested,
    Release,
    Report,
    ReportStatus,
    Source,
)

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def reported(status: str = "suspected", sequence: int = 1, at: datetime = T0) -> IncidentReported:
    return IncidentReported(
        incident_id="inc_1",
        subprocessor_id="linode-eu",
        source=Source.SUBPROCESSOR,
        delivery_id=f"msg_{status}_{sequence}",
        received_at=at,
        report=Report(
            reference="LIN-1",
            status=ReportStatus(status),
            sequence=sequence,
            title=f"t {status}",
            aware_at=T0,
        ),
    )


def requested(notice_id: str, approval: bool = False) -> NoticeRequested:
    return NoticeRequested(
        notice_id=notice_id,
        incident_id="inc_1",
        revision="suspected.1",
        recipient_id="acme-eu",
        recipient_name="Acme",
        audience=Audience.CONTROLLER,
        channel=Channel.EMAIL,
        kind=NoticeKind.PRELIMINARY,
        address="privacy@acme.example",
        requested_at=T0,
        release=Release.APPROVE if approval else Release.AUTO,
        incident=IncidentFacts(
            incident_id="inc_1",
            subprocessor_id="linode-eu",
            subprocessor_name="Linode EU",
            status=ReportStatus.SUSPECTED,
            sequence=1,
            title="t",
            description="",
            aware_at=T0,
        ),
    )


def test_a_report_is_recorded_once_and_later_reports_move_the_status(ledger: Ledger) -> None:
    assert ledger.record_report(reported()) is True
    assert ledger.record_report(reported()) is False  # replayed: nothing changes
    assert ledger.record_report(reported("confirmed", 2, T0 + timedelta(hours=1))) is True
    assert ledger.incident_reported_at("inc_1") == T0


def test_requested_notices_are_recorded_once(ledger: Ledger) -> None:
    assert ledger.record_requested([requested("n1"), requested("n2")]) == 2
    assert ledger.record_requested([requested("n1"), requested("n3")]) == 1
    assert ledger.notice_state("n1") is NoticeState.REQUESTED
    assert ledger.record_requested([requested("n4", approval=True)]) == 1
    assert ledger.notice_state("n4") is NoticeState.AWAITING_APPROVAL
    assert ledger.notice_state("missing") is None


def test_a_notice_is_delivered_once_and_stays_delivered(ledger: Ledger) -> None:
    ledger.record_requested([requested("n1")])
    at = T0 + timedelta(minutes=1)
    assert ledger.mark_delivered("n1", attempts=1, receipt="<n1@x>", locale="en", rendered="body", at=at)
    assert not ledger.mark_delivered("n1", attempts=2, receipt="<again>", locale="en", rendered="x", at=at)
    assert not ledger.mark_failed("n1", attempts=3, error="late failure", final=True)
    [row] = ledger.notices("inc_1")
    assert (row.state, row.attempts, row.receipt, row.delivered_at) == ("delivered", 1, "<n1@x>", at)
    assert ledger.rendered("n1") == "body"


def test_failures_record_retrying_then_dead(ledger: Ledger) -> None:
    ledger.record_requested([requested("n1")])
    ledger.mark_failed("n1", attempts=1, error="HTTP 503", final=False)
    assert ledger.notice_state("n1") is NoticeState.RETRYING
    ledger.mark_failed("n1", attempts=7, error="HTTP 503", final=True)
    assert ledger.notice_state("n1") is NoticeState.DEAD
    assert ledger.count_by_state("inc_1") == {"dead": 1}


def test_assessments_are_recorded_once(ledger: Ledger) -> None:
    message = IncidentAssessed(
        incident_id="inc_1", revision="suspected.1", customer_id="acme-eu", assessed_at=T0, notice_ids=["n1"]
    )
    assert ledger.record_assessment(message) is True
    assert ledger.record_assessment(message) is False


def test_times_come_back_aware_and_in_utc(ledger: Ledger) -> None:
    ledger.record_requested([requested("n1")])
    [row] = ledger.notices()
    assert row.requested_at == T0
    assert row.requested_at.tzinfo is not None
