"""The assessment: who a report reaches, which laws apply, every clock, and the notices it asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.assess.assessment import Assessor
from consumers.assess.consumer import Assess
from consumers.assess.release import load_release_policy
from consumers.assess.rules import RuleBook
from runtime import resources
from runtime.datamap import Customer, DataMap, MapSource, load_subprocessors
from runtime.notice_signing import NoticeSigner
from runtime.settings import OncallSettings, SigningSettings, load_settings
from runtime.topics import topics_for
from schemas import (
    Audience,
    Channel,
    IncidentAssessed,
    IncidentReported,
    NoticeKind,
    NoticeRequested,
    Release,
    Report,
    ReportStatus,
    Source,
    incident_id,
)
from schemas.common import Message

EXAMPLES = resources.example_datamap()
TOPICS = topics_for(load_settings().kafka)
ONCALL = OncallSettings(email="oncall@processor.example")
POLICY = load_release_policy(resources.release_policy())
SIGNER = NoticeSigner.from_settings(SigningSettings())
AWARE = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)


def customer(cid: str, **fields: Any) -> Customer:
    values: dict[str, Any] = {
        "id": cid,
        "name": cid.title(),
        "region": "eu",
        "country": "DE",
        "privacy_email": f"privacy@{cid}.example",
        "admin_emails": [f"admin@{cid}.example"],
    }
    values.update(fields)
    return Customer.model_validate(values)


def a_map(*customers: Customer) -> DataMap:
    return DataMap(load_subprocessors(EXAMPLES / "subprocessors.toml"), customers)


def reported(subprocessor: str, **fields: Any) -> IncidentReported:
    values: dict[str, Any] = {
        "reference": "REF-1",
        "status": ReportStatus.CONFIRMED,
        "title": "Something happened",
        "aware_at": AWARE,
    }
    values.update(fields)
    report = Report.model_validate(values)
    return IncidentReported(
        incident_id=incident_id(subprocessor, report.reference),
        subprocessor_id=subprocessor,
        source=Source.SUBPROCESSOR,
        delivery_id="msg_1",
        received_at=AWARE,
        report=report,
    )


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, Message]] = []

    def __call__(self, topic: str, key: str, message: Message) -> None:
        self.messages.append((topic, key, message))

    @property
    def notices(self) -> list[NoticeRequested]:
        return [m for _, _, m in self.messages if isinstance(m, NoticeRequested)]

    @property
    def assessed(self) -> list[IncidentAssessed]:
        return [m for _, _, m in self.messages if isinstance(m, IncidentAssessed)]


def an_assess(datamap: MapSource, rules: RuleBook, recorder: Recorder) -> Assess:
    """The assess step with the project's release policy, five minutes after the breach became known."""
    return Assess(
        datamap,
        rules,
        TOPICS,
        recorder,
        ONCALL,
        clock=lambda: AWARE + timedelta(minutes=5),
        policy=POLICY,
        signer=SIGNER,
    )


def run(datamap: DataMap, rules: RuleBook, *reports: IncidentReported) -> Recorder:
    recorder = Recorder()
    assess = an_assess(datamap, rules, recorder)
    for report in reports:
        assess.assess(report)
    return recorder


# ---------------------------------------------------------------------------------------------------------------
# Who is affected, by subprocessor kind

WINDOW_START = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)
JANUARY = datetime(2026, 1, 1, tzinfo=UTC)


def grant(start: datetime, end: datetime | None) -> dict[str, Any]:
    return {"subcontractor": "support-24x7", "valid_from": start.isoformat(), "valid_until": end and end.isoformat()}


KIND_MAP = a_map(
    customer("eu-a", region="eu", features=["helpdesk"]),
    customer("eu-calls", region="eu", features=["call-center", "chat"]),
    customer("uk-a", region="uk", country="GB", features=["chat"]),
    customer("us-calls", region="us", country="US", state="CA", features=["call-center"]),
    customer("grant-during", grants=[grant(WINDOW_START + timedelta(hours=1), WINDOW_START + timedelta(hours=2))]),
    customer("grant-open", grants=[grant(datetime(2026, 1, 1, tzinfo=UTC), None)]),
    customer(
        "grant-ended-a-minute-before",
        grants=[grant(datetime(2026, 1, 1, tzinfo=UTC), WINDOW_START - timedelta(minutes=1))],
    ),
    customer("grant-starts-after", grants=[grant(WINDOW_END + timedelta(minutes=1), None)]),
    customer("grant-ends-at-start", grants=[grant(datetime(2026, 1, 1, tzinfo=UTC), WINDOW_START)]),
)


@pytest.mark.parametrize(
    ("subprocessor", "fields", "expected"),
    [
        pytest.param("linode-uk", {"regions": ["uk"]}, {"uk-a"}, id="infrastructure: its region"),
        pytest.param("aws", {"regions": ["uk"]}, {"uk-a"}, id="infrastructure: the reported one of its regions"),
        pytest.param("twilio", {}, {"eu-calls", "us-calls"}, id="service: call-center customers only"),
        pytest.param(
            "support-24x7",
            {"occurred_from": WINDOW_START, "occurred_until": WINDOW_END},
            {"grant-during", "grant-open", "grant-ends-at-start"},
            id="subcontractor: grants overlapping the window",
        ),
        pytest.param("twilio", {"customer_accounts": ["uk-a", "nobody"]}, {"uk-a"}, id="named accounts"),
    ],
)
def test_who_is_affected(rules: RuleBook, subprocessor: str, fields: dict[str, Any], expected: set[str]) -> None:
    recorder = run(KIND_MAP, rules, reported(subprocessor, **fields))
    assert {a.customer_id for a in recorder.assessed} == expected
    assert {n.recipient_id for n in recorder.notices} == expected


def test_twilio_reaches_only_call_center_customers_with_their_data(rules: RuleBook, datamap: DataMap) -> None:
    recorder = run(datamap, rules, reported("twilio"))
    call_center = {c.id for c in datamap.customers.values() if "call-center" in c.features}
    assert {a.customer_id for a in recorder.assessed} == call_center
    assert {n.recipient_id for n in recorder.notices} == call_center
    for assessment in recorder.assessed:
        assert assessment.data_categories == ["call_recordings", "phone_numbers", "call_metadata"]
        assert assessment.deadlines
    for notice in recorder.notices:
        assert notice.incident.data_categories == ["call_recordings", "phone_numbers", "call_metadata"]


# ---------------------------------------------------------------------------------------------------------------
# Jurisdictions and clocks, as an assessment sees them

END = "23:59:59.999999"
US = {"region": "us", "country": "US"}
SG = {"region": "sg", "country": "SG"}
HIPAA = {**US, "state": "WA", "covered_entity": True}


@pytest.mark.parametrize(
    ("fields", "jurisdiction", "obligation", "aware", "due"),
    [
        ({"country": "DE"}, "eu-gdpr", "controller", "2026-06-10T09:30Z", "2026-06-11T09:30:00+00:00"),
        ({"country": "DE"}, "eu-gdpr", "supervisory-authority", "2026-06-10T09:30Z", "2026-06-13T09:30:00+00:00"),
        # 72 elapsed hours across the EU change to summer time (2026-03-29 01:00Z): 22:00Z stays 22:00Z
        ({"country": "DE"}, "eu-gdpr", "supervisory-authority", "2026-03-27T22:00Z", "2026-03-30T22:00:00+00:00"),
        ({"region": "uk", "country": "GB"}, "uk-gdpr", "ico", "2026-06-10T09:30Z", "2026-06-13T09:30:00+00:00"),
        ({"country": "PH"}, "ph-dpa", "npc", "2026-06-10T09:30Z", "2026-06-13T09:30:00+00:00"),
        ({"country": "PH"}, "ph-dpa", "data-subjects", "2026-06-10T09:30Z", "2026-06-13T09:30:00+00:00"),
        # no determination yet: 30 days to assess (06-10 17:30 SGT -> 07-10), then 3 calendar days in SGT
        (SG, "sg-pdpa", "pdpc", "2026-06-10T09:30Z", f"2026-07-13T{END}+08:00"),
        (
            {**US, "state": "CA"},
            "us-ca",
            "residents",
            "2026-06-10T09:30Z",
            f"2026-07-10T{END}-07:00",
        ),
        # 30 calendar days across the US change to daylight time (2026-03-08): ends at local midnight, PDT
        (
            {**US, "state": "CA"},
            "us-ca",
            "residents",
            "2026-03-01T20:00Z",
            f"2026-03-31T{END}-07:00",
        ),
        (
            {**US, "state": "NY"},
            "us-ny",
            "residents",
            "2026-06-10T09:30Z",
            f"2026-07-10T{END}-04:00",
        ),
        (
            {**US, "state": "FL"},
            "us-fl",
            "covered-entity",
            "2026-06-10T09:30Z",
            f"2026-06-20T{END}-04:00",
        ),
        (
            {**US, "state": "CO"},
            "us-co",
            "residents",
            "2026-06-10T09:30Z",
            f"2026-07-10T{END}-06:00",
        ),
        (
            HIPAA,
            "us-hipaa",
            "individuals",
            "2026-06-10T09:30Z",
            f"2026-08-09T{END}-04:00",
        ),
    ],
)
def test_each_jurisdictions_clock(
    rules: RuleBook, fields: dict[str, Any], jurisdiction: str, obligation: str, aware: str, due: str
) -> None:
    subject = customer("c", data_subjects=1000, **fields)
    recorder = run(a_map(subject), rules, reported("twilio", customer_accounts=["c"], aware_at=aware))
    [assessment] = recorder.assessed
    assert jurisdiction in assessment.jurisdictions
    [deadline] = [d for d in assessment.deadlines if (d.jurisdiction, d.obligation) == (jurisdiction, obligation)]
    assert deadline.due_at == datetime.fromisoformat(due)


def test_a_recorded_determination_starts_the_clocks_that_wait_for_it(rules: RuleBook) -> None:
    subject = customer("c", data_subjects=1000, **SG)
    waiting = run(a_map(subject), rules, reported("twilio", customer_accounts=["c"], aware_at="2026-06-10T09:30Z"))
    [before] = [d for d in waiting.assessed[0].deadlines if d.obligation == "pdpc"]
    assert before.waiting_for == "determination"
    assert before.due_at == datetime.fromisoformat(f"2026-07-13T{END}+08:00")
    # determined 06-11 12:00 SGT: 3 calendar days from that day; awareness clocks do not move
    determined = reported(
        "twilio",
        customer_accounts=["c"],
        aware_at="2026-06-10T09:30Z",
        determinations={"sg-pdpa": "2026-06-11T04:00Z"},
    )
    [assessment] = run(a_map(subject), rules, determined).assessed
    deadlines = {d.obligation: d for d in assessment.deadlines if d.jurisdiction == "sg-pdpa"}
    assert deadlines["pdpc"].waiting_for is None
    assert deadlines["pdpc"].due_at == datetime.fromisoformat(f"2026-06-14T{END}+08:00")
    assert deadlines["controller"].due_at == datetime.fromisoformat("2026-06-11T09:30:00+00:00")
    [controller] = [n for n in run(a_map(subject), rules, determined).notices if n.audience is Audience.CONTROLLER]
    assert all(d.waiting_for is None for d in controller.deadlines if d.jurisdiction == "sg-pdpa")


def test_controller_notices_carry_the_controllers_own_clocks(rules: RuleBook) -> None:
    recorder = run(a_map(customer("c", country="PH")), rules, reported("twilio", customer_accounts=["c"]))
    [assessment] = recorder.assessed
    assert {(d.jurisdiction, d.audience) for d in assessment.deadlines} >= {
        ("eu-gdpr", "controller"),
        ("ph-dpa", "controller"),
        ("ph-dpa", "authority"),
    }
    for notice in recorder.notices:
        if notice.audience is Audience.CONTROLLER:
            assert {d.audience for d in notice.deadlines} == {"authority", "data_subjects"}
            assert {d.jurisdiction for d in notice.deadlines} == {"eu-gdpr", "ph-dpa"}


@pytest.mark.parametrize(
    ("fields", "approx", "jurisdiction", "obligation", "notifiable"),
    [
        # Singapore: significant scale is 500 or more (harm not known yet: below it, cannot tell)
        ({**SG, "data_subjects": 499}, None, "sg-pdpa", "pdpc", None),
        ({**SG, "data_subjects": 500}, None, "sg-pdpa", "pdpc", True),
        ({**SG, "data_subjects": 90_000}, 499, "sg-pdpa", "pdpc", None),
        ({**SG, "data_subjects": 90_000}, 500, "sg-pdpa", "pdpc", True),
        # HIPAA: HHS per incident from 500 (under 500: the yearly log)
        (
            {**HIPAA, "data_subjects": 499},
            None,
            "us-hipaa",
            "hhs",
            False,
        ),
        (
            {**HIPAA, "data_subjects": 500},
            None,
            "us-hipaa",
            "hhs",
            None,
        ),
        (
            {**HIPAA, "data_subjects": 9000},
            499,
            "us-hipaa",
            "hhs",
            False,
        ),
        # Colorado's Attorney General from 500; California's from more than 500
        (
            {**US, "state": "CO", "data_subjects": 499},
            None,
            "us-co",
            "attorney-general",
            False,
        ),
        (
            {**US, "state": "CA", "data_subjects": 500},
            None,
            "us-ca",
            "attorney-general",
            False,
        ),
        (
            {**US, "state": "CA", "data_subjects": 501},
            None,
            "us-ca",
            "attorney-general",
            None,
        ),
    ],
)
def test_the_500_people_threshold(
    rules: RuleBook,
    fields: dict[str, Any],
    approx: int | None,
    jurisdiction: str,
    obligation: str,
    notifiable: bool | None,
) -> None:
    subject = customer("c", **fields)
    recorder = run(a_map(subject), rules, reported("twilio", customer_accounts=["c"], approx_data_subjects=approx))
    [assessment] = recorder.assessed
    [deadline] = [d for d in assessment.deadlines if (d.jurisdiction, d.obligation) == (jurisdiction, obligation)]
    assert deadline.notifiable is notifiable


def test_customers_alike_share_clocks_but_not_thresholds(rules: RuleBook) -> None:
    report = reported("linode-sg").report
    assessor = Assessor(rules, report)
    small = assessor.assess(customer("a", region="sg", country="SG", data_subjects=10))
    large = assessor.assess(customer("b", region="sg", country="SG", data_subjects=10_000))
    small_again = assessor.assess(customer("c", region="sg", country="SG", data_subjects=12))
    assert small.deadlines is small_again.deadlines
    assert [d.notifiable for d in small.deadlines] != [d.notifiable for d in large.deadlines]


# ---------------------------------------------------------------------------------------------------------------
# Notices: audiences, channels, kinds, ids, references


def test_audiences_and_channels(rules: RuleBook) -> None:
    with_sms = customer("a", admin_emails=["one@a.example", "two@a.example"], sms="+15550001111")
    without = customer(
        "b", webhook_url="https://hooks.b.example/x", webhook_secret="whsec_YS1jdXN0b21lcnMtb3duLXdlYmhvb2stc2VjcmV0"
    )
    recorder = run(a_map(with_sms, without), rules, reported("linode-eu", regions=["eu"]))
    channels = {(n.recipient_id, n.audience, n.channel, n.address) for n in recorder.notices}
    assert channels == {
        ("a", Audience.CONTROLLER, Channel.EMAIL, "privacy@a.example"),
        ("a", Audience.CUSTOMER, Channel.EMAIL, "one@a.example"),
        ("a", Audience.CUSTOMER, Channel.EMAIL, "two@a.example"),
        ("a", Audience.CUSTOMER, Channel.SMS, "+15550001111"),
        ("b", Audience.CONTROLLER, Channel.EMAIL, "privacy@b.example"),
        ("b", Audience.CONTROLLER, Channel.WEBHOOK, "https://hooks.b.example/x"),
        ("b", Audience.CUSTOMER, Channel.EMAIL, "admin@b.example"),
    }
    assert len({n.notice_id for n in recorder.notices}) == len(recorder.notices)
    assert {tuple(a.audiences) for a in recorder.assessed} == {(Audience.CONTROLLER, Audience.CUSTOMER)}


@pytest.mark.parametrize(
    ("status", "kind", "authority_reports"),
    [
        (ReportStatus.SUSPECTED, NoticeKind.PRELIMINARY, 0),
        (ReportStatus.CONFIRMED, NoticeKind.FULL, 1),
        (ReportStatus.UPDATE, NoticeKind.FOLLOW_UP, 1),
        (ReportStatus.RESOLVED, NoticeKind.CLOSING, 1),
        (ReportStatus.DISMISSED, NoticeKind.CLOSING, 0),
    ],
)
def test_kind_follows_status_and_authority_reports_wait_for_approval(
    rules: RuleBook, status: ReportStatus, kind: NoticeKind, authority_reports: int
) -> None:
    files = customer("files", authority_filing=True)
    recorder = run(a_map(files, customer("plain")), rules, reported("linode-eu", status=status))
    assert {n.kind for n in recorder.notices} == {kind}
    authority = [n for n in recorder.notices if n.audience is Audience.AUTHORITY]
    assert len(authority) == authority_reports  # eu-gdpr's supervisory authority, for "files" only
    for notice in authority:
        assert notice.release is Release.APPROVE
        assert notice.recipient_id == "files"
        assert [d.obligation for d in notice.deadlines] == ["supervisory-authority"]
    assert not any(n.release is Release.APPROVE for n in recorder.notices if n.audience is not Audience.AUTHORITY)


def test_notice_ids_are_the_same_on_reassessment(rules: RuleBook, datamap: DataMap) -> None:
    report = reported("linode-eu", regions=["eu"])
    first = [n.notice_id for n in run(datamap, rules, report).notices]
    again = [n.notice_id for n in run(datamap, rules, report, report).notices]
    assert first and again == first + first
    later = [n.notice_id for n in run(datamap, rules, reported("linode-eu", status="update", sequence=2)).notices]
    assert not set(later) & set(first)


@pytest.mark.parametrize("status", list(ReportStatus))
def test_every_message_built_is_valid_and_reads_back_the_same(
    rules: RuleBook, datamap: DataMap, status: ReportStatus
) -> None:
    # Notices and assessments are copied from a per-report prototype without validation: each must still be
    # what validating its fields would give, with no placeholder left over from the prototype.
    first = reported("linode-eu", status=ReportStatus.SUSPECTED, regions=["eu", "uk", "us"])
    later = reported("linode-eu", status=status, sequence=2, regions=["eu", "uk", "us"])
    recorder = run(datamap, rules, first, later)
    assert len(recorder.assessed) > 10
    for _, _, message in recorder.messages:
        again = type(message).model_validate_json(message.to_json())
        assert again == message
        assert type(message).model_validate(message.model_dump()) == message
    for notice in recorder.notices:
        assert notice.notice_id and notice.recipient_id and notice.recipient_name and notice.address
        # Signed, on-call alerts included, and still verifying once read back from JSON (as the notifier reads it).
        SIGNER.verify(NoticeRequested.model_validate_json(notice.to_json()))
    for assessment in recorder.assessed:
        assert assessment.customer_id and assessment.jurisdictions and assessment.notice_ids


def test_follow_ups_reference_the_earlier_notices_to_the_same_recipient(rules: RuleBook) -> None:
    datamap = a_map(customer("a", region="eu"), customer("b", region="uk", country="GB"))
    first = reported("aws", status=ReportStatus.SUSPECTED, regions=["eu"])
    second = reported("aws", status=ReportStatus.CONFIRMED, sequence=2, regions=["eu", "uk"])
    third = reported("aws", status=ReportStatus.UPDATE, sequence=3, regions=["eu", "uk"])
    recorder = run(datamap, rules, first, second, third)
    by = {(n.revision, n.recipient_id, n.audience, n.channel): n for n in recorder.notices}
    a1 = by[("suspected.1", "a", Audience.CONTROLLER, Channel.EMAIL)]
    a2 = by[("confirmed.2", "a", Audience.CONTROLLER, Channel.EMAIL)]
    a3 = by[("update.3", "a", Audience.CONTROLLER, Channel.EMAIL)]
    assert a1.references == []
    assert a2.references == [a1.notice_id]
    assert a3.references == [a1.notice_id, a2.notice_id]
    b3 = by[("update.3", "b", Audience.CUSTOMER, Channel.EMAIL)]
    assert b3.references == [by[("confirmed.2", "b", Audience.CUSTOMER, Channel.EMAIL)].notice_id]


def test_a_restarted_assessor_recalls_the_earlier_revisions(rules: RuleBook) -> None:
    datamap = a_map(customer("a", region="eu"), customer("b", region="uk", country="GB"))
    first = reported("aws", status=ReportStatus.SUSPECTED, regions=["eu"])
    second = reported("aws", status=ReportStatus.CONFIRMED, sequence=2, regions=["eu", "uk"])
    before = run(datamap, rules, first)
    recalled: list[str] = []

    def recall(incident: str) -> list[IncidentAssessed]:
        recalled.append(incident)
        return before.assessed

    restarted = Recorder()
    Assess(
        datamap, rules, TOPICS, restarted, ONCALL, clock=lambda: AWARE, recall=recall, policy=POLICY, signer=SIGNER
    ).assess(second)
    a1 = next(n for n in before.notices if n.recipient_id == "a" and n.audience is Audience.CONTROLLER)
    a2 = next(
        n for n in restarted.notices if n.recipient_id == "a" and n.channel is a1.channel and n.audience is a1.audience
    )
    assert a2.references == [a1.notice_id]
    assert all(n.references == [] for n in restarted.notices if n.recipient_id == "b")  # "b" was not reached
    assert recalled == [second.incident_id]


def test_a_failed_recall_leaves_no_references_and_the_notices_go_out(rules: RuleBook) -> None:
    def recall(incident: str) -> list[IncidentAssessed]:
        raise TimeoutError("broker away")

    recorder = Recorder()
    assess = Assess(
        a_map(customer("a")),
        rules,
        TOPICS,
        recorder,
        ONCALL,
        clock=lambda: AWARE,
        recall=recall,
        policy=POLICY,
        signer=SIGNER,
    )
    assess.assess(reported("aws", status=ReportStatus.UPDATE, sequence=3, regions=["eu"]))
    assert recorder.notices and all(n.references == [] for n in recorder.notices)


@pytest.mark.parametrize(
    ("subprocessor", "fields"),
    [
        pytest.param("twilio", {"customer_accounts": ["nobody"]}, id="unknown accounts"),
        pytest.param("linode-sg", {}, id="a region with no customer"),
        pytest.param("support-24x7", {"occurred_from": WINDOW_START}, id="no grant"),
        pytest.param("not-in-the-map", {}, id="unknown reporter"),
    ],
)
def test_a_report_touching_no_one_is_recorded_and_alerts_oncall(
    rules: RuleBook, subprocessor: str, fields: dict[str, Any]
) -> None:
    recorder = run(a_map(customer("a", region="eu")), rules, reported(subprocessor, **fields))
    [assessment] = recorder.assessed
    assert assessment.no_one_affected and assessment.customer_id == ""
    [alert] = recorder.notices
    assert (alert.audience, alert.channel, alert.kind) == (Audience.ONCALL, Channel.EMAIL, NoticeKind.ALERT)
    assert alert.address == ONCALL.email
    assert "touches no customer" in alert.incident.description
    again = run(a_map(customer("a", region="eu")), rules, reported(subprocessor, **fields))
    assert again.notices[0].notice_id == alert.notice_id


# ---------------------------------------------------------------------------------------------------------------
# Names that match nothing never widen a report (one published straight to Kafka, past the intake's checks)


@pytest.mark.parametrize(
    ("subprocessor", "fields", "named"),
    [
        pytest.param("aws", {"regions": ["eu-west"]}, "region 'eu-west'", id="a region no one hosts"),
        pytest.param("linode-eu", {"regions": ["uk"]}, "region 'uk'", id="a region the reporter does not host"),
        pytest.param("twilio", {"features": ["call-centre"]}, "feature 'call-centre'", id="a feature"),
    ],
)
def test_a_report_naming_only_unknown_places_reaches_no_one_and_alerts_oncall(
    rules: RuleBook, subprocessor: str, fields: dict[str, Any], named: str
) -> None:
    recorder = run(KIND_MAP, rules, reported(subprocessor, **fields))
    [assessment] = recorder.assessed
    assert assessment.no_one_affected
    [alert] = recorder.notices
    assert alert.audience is Audience.ONCALL
    assert named in alert.incident.description


def test_known_names_are_assessed_and_the_unknown_ones_alert_oncall(rules: RuleBook) -> None:
    report = reported("aws", regions=["uk", "eu-west"], data_categories=["attachments", "passwords"])
    recorder = run(KIND_MAP, rules, report)
    assert {a.customer_id for a in recorder.assessed} == {"uk-a"}  # not every region aws hosts
    [alert] = [n for n in recorder.notices if n.audience is Audience.ONCALL]
    assert "region 'eu-west'" in alert.incident.description
    assert "data category 'passwords'" in alert.incident.description
    assert "not widened" in alert.incident.description
    assert {n.recipient_id for n in recorder.notices if n.audience is not Audience.ONCALL} == {"uk-a"}
    again = run(KIND_MAP, rules, report)
    assert [n.notice_id for n in again.notices] == [n.notice_id for n in recorder.notices]


def test_a_report_naming_nothing_still_reaches_everything_the_reporter_serves(rules: RuleBook) -> None:
    recorder = run(KIND_MAP, rules, reported("aws"))
    assert {a.customer_id for a in recorder.assessed} >= {"eu-a", "uk-a", "us-calls"}
    assert not [n for n in recorder.notices if n.audience is Audience.ONCALL]


def test_quality_unit_ukraine_reaches_only_the_customers_who_granted_it_access(
    rules: RuleBook, datamap: DataMap
) -> None:
    """The source document: Quality Unit Ukraine "works as a subcontractor" (access only with prior permission)."""
    window = {
        "occurred_from": datetime(2026, 9, 19, tzinfo=UTC),
        "occurred_until": datetime(2026, 9, 20, tzinfo=UTC),
    }
    recorder = run(datamap, rules, reported("quality-unit-ukraine", **window))
    granted = {
        c.id for c in datamap.customers.values() if any(g.subcontractor == "quality-unit-ukraine" for g in c.grants)
    }
    reached = {a.customer_id for a in recorder.assessed}
    # Every customer whose grant covers the window, and no one else: not the helpdesk and chat users at large.
    assert reached == {"bratislava-books", "paris-voyages", "cardiff-games", "sf-software"}
    assert reached < granted  # manila-telco's grant starts after the window
    assert len(datamap.using_feature("chat")) > len(reached)
