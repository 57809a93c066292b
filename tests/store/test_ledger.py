"""The ledger's behaviour on SQLite and PostgreSQL alike (the `ledger` fixture runs each test on both)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from support import count_by_state, record_attempt

from runtime.store import Ledger
from runtime.store.clocks import ClockRow
from runtime.store.delivery import NoticeState
from runtime.store.incidents import Assessment
from runtime.store.tables import affected
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


def requested(
    notice_id: str, approval: bool = False, release: Release | None = None, audience: Audience = Audience.CONTROLLER
) -> NoticeRequested:
    return NoticeRequested(
        notice_id=notice_id,
        incident_id="inc_1",
        revision="suspected.1",
        recipient_id="acme-eu",
        recipient_name="Acme",
        audience=audience,
        channel=Channel.EMAIL,
        kind=NoticeKind.PRELIMINARY,
        address="privacy@acme.example",
        requested_at=T0,
        release=release or (Release.APPROVE if approval else Release.AUTO),
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
    assert ledger.incidents.record_report(reported()) is True
    assert ledger.incidents.record_report(reported()) is False  # replayed: nothing changes
    assert ledger.incidents.record_report(reported("confirmed", 2, T0 + timedelta(hours=1))) is True
    assert (ledger.incidents.incident("inc_1") or {})["first_reported_at"] == T0


def test_requested_notices_are_recorded_once(ledger: Ledger) -> None:
    assert ledger.delivery.record_requested([requested("ntc_n1"), requested("ntc_n2")]) == 2
    assert ledger.delivery.record_requested([requested("ntc_n1"), requested("ntc_n3")]) == 1
    assert ledger.delivery.notice_state("ntc_n1") is NoticeState.REQUESTED
    assert ledger.delivery.record_requested([requested("ntc_n4", approval=True)]) == 1
    assert ledger.delivery.notice_state("ntc_n4") is NoticeState.AWAITING_APPROVAL
    assert ledger.delivery.notice_state("missing") is None


def test_a_notice_is_delivered_once_and_stays_delivered(ledger: Ledger) -> None:
    notice = requested("ntc_n1")
    ledger.delivery.record_requested([notice])
    at = T0 + timedelta(minutes=1)
    record_attempt(ledger, notice, "delivered", detail="<n1@x>", rendered="body", at=at)
    record_attempt(ledger, notice, "delivered", attempts=2, detail="<again>", at=at + timedelta(minutes=1))
    record_attempt(ledger, notice, "dead", attempts=3, detail="late failure", at=at + timedelta(minutes=2))
    [row] = ledger.delivery.notices("inc_1")
    assert (row.state, row.attempts, row.receipt, row.delivered_at) == ("delivered", 1, "<n1@x>", at)
    assert ledger.delivery.rendered("ntc_n1") == "body"


def test_failures_record_retrying_then_dead(ledger: Ledger) -> None:
    notice = requested("ntc_n1")
    ledger.delivery.record_requested([notice])
    record_attempt(ledger, notice, "retry", detail="HTTP 503", at=T0)
    assert ledger.delivery.notice_state("ntc_n1") is NoticeState.RETRYING
    record_attempt(ledger, notice, "dead", attempts=7, detail="HTTP 503", at=T0 + timedelta(hours=1))
    assert ledger.delivery.notice_state("ntc_n1") is NoticeState.DEAD
    assert count_by_state(ledger, "inc_1") == {"dead": 1}


def test_assessments_are_recorded_once(ledger: Ledger) -> None:
    message = IncidentAssessed(
        incident_id="inc_1", revision="suspected.1", customer_id="acme-eu", assessed_at=T0, notice_ids=["ntc_n1"]
    )
    assert ledger.incidents.record_assessment(message) is True
    assert ledger.incidents.record_assessment(message) is False


def affected_rows(ledger: Ledger) -> dict[str, list[tuple[str, str]]]:
    """customer → its (jurisdiction, name) rows, as the console lists who is affected."""
    query = select(affected.c.customer_id, affected.c.jurisdiction, affected.c.name).order_by(
        affected.c.customer_id, affected.c.jurisdiction
    )
    with ledger.engine.connect() as conn:
        rows: dict[str, list[tuple[str, str]]] = {}
        for customer, jurisdiction, name in conn.execute(query):
            rows.setdefault(customer, []).append((jurisdiction, name))
        return rows


def assessed(customer: str, revision: str, at: datetime, *jurisdictions: str, none: bool = False) -> IncidentAssessed:
    return IncidentAssessed(
        incident_id="inc_1", revision=revision, customer_id=customer, assessed_at=at,
        jurisdictions=list(jurisdictions), no_one_affected=none,
    )  # fmt: skip


def test_a_batch_of_assessments_lists_each_customer_as_its_latest_assessment_says(ledger: Ledger) -> None:
    later = T0 + timedelta(hours=1)
    first = [
        Assessment(assessed("acme", "suspected.1", T0, "EU", "UK"), "Acme", "eu"),
        Assessment(assessed("beta", "suspected.1", T0, "EU"), "Beta", "eu"),
        Assessment(assessed("gamma", "suspected.1", later, "EU"), "Gamma", "eu"),
    ]
    assert ledger.incidents.record_assessments(first) == 3
    assert ledger.incidents.record_assessments(first) == 0  # a replayed batch changes nothing
    second = [
        Assessment(assessed("acme", "confirmed.1", later, "UK"), "Acme", "eu"),  # the newer one stands
        Assessment(assessed("acme", "confirmed.0", T0 + timedelta(minutes=5), "US"), "Acme", "eu"),  # older
        Assessment(assessed("beta", "confirmed.1", later, none=True), "Beta", "eu"),  # no longer affected
        Assessment(assessed("gamma", "confirmed.1", T0, "US"), "Gamma", "eu"),  # older than the one listed
    ]
    assert ledger.incidents.record_assessments(second) == 4
    assert affected_rows(ledger) == {"acme": [("UK", "Acme")], "gamma": [("EU", "Gamma")]}
    assert len(ledger.incidents.assessments_of("inc_1")) == 7


def test_times_come_back_aware_and_in_utc(ledger: Ledger) -> None:
    ledger.delivery.record_requested([requested("ntc_n1")])
    [row] = ledger.delivery.notices()
    assert row.requested_at == T0
    assert row.requested_at.tzinfo is not None


def test_held_notices_are_released_once_with_who_when_and_why(ledger: Ledger) -> None:
    ledger.incidents.record_report(reported())
    held = [
        requested("ntc_h1", release=Release.HELD),
        requested("ntc_h2", release=Release.HELD, audience=Audience.CUSTOMER),
    ]
    ledger.delivery.record_requested([*held, requested("ntc_a1", approval=True), requested("ntc_n1")])
    assert ledger.delivery.notice_state("ntc_h1") is NoticeState.HELD
    assert ledger.release.cleared(["ntc_h1", "ntc_h2", "ntc_a1", "ntc_n1"]) == set()

    at = T0 + timedelta(hours=1)
    count, republish = ledger.release.release("inc_1", "controller", by="alice", reason="real", at=at)
    assert (count, [n.notice_id for n in republish]) == (1, ["ntc_h1"])
    assert republish[0] == held[0]  # as it was requested: same id, same content
    assert ledger.delivery.notice_state("ntc_h1") is NoticeState.REQUESTED
    assert ledger.delivery.notice_state("ntc_h2") is NoticeState.HELD
    assert ledger.release.decision("ntc_h1") == {
        "notice_id": "ntc_h1",
        "decision": "released",
        "decided_by": "alice",
        "reason": "real",
        "decided_at": at,
    }
    # Again: nothing new, but the released notice not attempted yet is handed back for republishing ...
    assert ledger.release.release("inc_1", "controller", by="bob", reason="again", at=at)[0] == 0
    assert (ledger.release.decision("ntc_h1") or {})["decided_by"] == "alice"
    # ... until it is attempted.
    record_attempt(ledger, held[0], "delivered", detail="250", at=at)
    assert ledger.release.release("inc_1", "controller", by="bob", reason="again", at=at) == (0, [])
    assert ledger.release.release("inc_1", None, by="bob", reason="all", at=at)[0] == 1
    assert ledger.release.cleared(["ntc_h1", "ntc_h2", "ntc_a1", "ntc_n1"]) == {"ntc_h1", "ntc_h2"}
    ledger.release.approve("ntc_a1", by="carol", reason="ok", at=at)
    assert ledger.release.cleared(["ntc_h1", "ntc_h2", "ntc_a1", "ntc_n1"]) == {"ntc_h1", "ntc_h2", "ntc_a1"}


def test_a_rejected_notice_is_settled_and_only_one_awaiting_approval_can_be(ledger: Ledger) -> None:
    ledger.delivery.record_requested(
        [requested("ntc_a1", approval=True), requested("ntc_a2", approval=True), requested("ntc_n1")]
    )
    assert ledger.release.reject("ntc_a1", by="carol", reason="not yet", at=T0)
    assert ledger.delivery.notice_state("ntc_a1") is NoticeState.REJECTED
    assert not ledger.release.reject("ntc_a1", by="carol", reason="twice", at=T0)
    assert not ledger.release.reject("ntc_n1", by="carol", reason="not held", at=T0)
    ledger.release.approve("ntc_a2", by="carol", reason="ok", at=T0)
    assert not ledger.release.reject("ntc_a2", by="carol", reason="too late", at=T0)
    assert ledger.release.cleared(["ntc_a1", "ntc_a2"]) == {"ntc_a2"}
    assert (ledger.release.decision("ntc_a1") or {})["decision"] == "rejected"


def test_held_clocks_are_the_clocks_of_the_customers_held_notices_go_to(ledger: Ledger) -> None:
    ledger.incidents.record_report(reported())
    ledger.delivery.record_requested([requested("ntc_h1", release=Release.HELD), requested("ntc_n1")])
    for audience, hours in (("controller", 24), ("authority", 72)):
        clock = ClockRow("inc_1", "acme-eu", "eu-gdpr", audience, T0, T0 + timedelta(hours=hours), "Art. 33", 0)
        ledger.clocks.track_clock(clock)
    ledger.clocks.track_clock(ClockRow("inc_1", "other", "eu-gdpr", "controller", T0, T0 + timedelta(hours=1), "x", 0))
    assert ledger.release.held_recipients() == {("inc_1", "acme-eu")}
    [held] = ledger.release.held_clocks()
    assert (held.incident_id, held.held, held.stage) == ("inc_1", 1, 0)
    assert sorted(held.clocks) == [
        ("eu-gdpr", "authority", T0, T0 + timedelta(hours=72)),
        ("eu-gdpr", "controller", T0, T0 + timedelta(hours=24)),
    ]  # not "other"'s: no notice to it is held
    assert ledger.release.advance_hold_reminder("inc_1", 1)
    assert not ledger.release.advance_hold_reminder("inc_1", 1)
    assert ledger.release.held_clocks()[0].stage == 1
    ledger.incidents.record_report(reported("dismissed", 2, T0 + timedelta(hours=1)))
    assert ledger.release.held_clocks() == []  # a dismissed incident needs no reminders
