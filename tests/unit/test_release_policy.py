"""The release policy: the project's file, the loader's errors, and what the assessor does with each mode."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.assess.consumer import Assess
from consumers.assess.release import ReleasePolicy, load_release_policy
from consumers.assess.rules import RuleBook, RulesError
from runtime import resources
from runtime.datamap import DataMap
from runtime.notice_signing import NoticeSigner
from runtime.settings import OncallSettings, Settings, SigningSettings, load_settings
from runtime.topics import topics_for
from schemas import (
    NOTICE_AUDIENCES,
    Audience,
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

POLICY_FILE = resources.release_policy()
SIGNER = NoticeSigner.from_settings(SigningSettings())
AWARE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> ReleasePolicy:
    return load_release_policy(POLICY_FILE)


def test_settings_name_the_project_policy() -> None:
    assert load_settings().release_policy == POLICY_FILE


@pytest.mark.parametrize(
    ("source", "status", "controller", "customer"),
    [
        # a monitor's suspicion reaches on-call only
        (Source.MONITOR, ReportStatus.SUSPECTED, None, None),
        # a subprocessor's suspicion is held for a responder's release
        (Source.SUBPROCESSOR, ReportStatus.SUSPECTED, Release.HELD, Release.HELD),
        # a confirmed breach goes at once (GDPR Art. 33(2)), whoever reports or confirms it
        (Source.SUBPROCESSOR, ReportStatus.CONFIRMED, Release.AUTO, Release.AUTO),
        (Source.MONITOR, ReportStatus.CONFIRMED, Release.AUTO, Release.AUTO),
        (Source.ONCALL, ReportStatus.CONFIRMED, Release.AUTO, Release.AUTO),
        # a responder's declaration is the responder's decision
        (Source.ONCALL, ReportStatus.SUSPECTED, Release.AUTO, Release.AUTO),
        (Source.SUBPROCESSOR, ReportStatus.UPDATE, Release.AUTO, Release.AUTO),
        (Source.SUBPROCESSOR, ReportStatus.DISMISSED, Release.HELD, Release.HELD),
        (Source.MONITOR, ReportStatus.RESOLVED, None, None),
    ],
)
def test_the_project_policy_decides_per_source_status_and_audience(
    policy: ReleasePolicy, source: Source, status: ReportStatus, controller: Release | None, customer: Release | None
) -> None:
    assert policy.decide(source, status, Audience.CONTROLLER) == controller
    assert policy.decide(source, status, Audience.CUSTOMER) == customer
    assert policy.decide(source, status, Audience.AUTHORITY) is Release.APPROVE
    assert policy.decide(source, status, Audience.ONCALL) is Release.AUTO


def test_authority_reports_always_need_approval(policy: ReleasePolicy) -> None:
    assert {policy.decide(so, st, Audience.AUTHORITY) for so in Source for st in ReportStatus} == {Release.APPROVE}


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = POLICY_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "release.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "[monitor.suspected]\n# A firing alert reaches on-call only: a flapping monitor or a false alarm must not "
            "mail every customer.\n# No external notice until a responder confirms it (`incident confirm`) or "
            'declares an incident.\ncontroller = "oncall"\ncustomer = "oncall"\nauthority = "approve"',
            '[monitor.suspected]\ncontroller = "oncall"\ncustomer = "oncall"\nauthority = "auto"',
            "release.toml: monitor.suspected.authority: Value error, authority reports are always 'approve'",
        ),
        (
            'controller = "held"',
            'controller = "hold"',
            "release.toml: subprocessor.suspected.controller: Input should be 'auto', 'held', 'approve' or 'oncall'",
        ),
        ('controller = "held"', "controller = true", "release.toml: subprocessor.suspected.controller: Input should"),
        ('customer = "held"', 'customers = "held"', "release.toml: subprocessor.suspected.customer: Field required"),
        ("[oncall.resolved]", "[oncall.resolvd]", "release.toml: oncall.resolved: Field required"),
        ("[monitor.update]", "[monitors.update]", "release.toml: monitors: Extra inputs are not permitted"),
    ],
)
def test_a_bad_policy_is_refused_naming_file_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        load_release_policy(broken(tmp_path, old, new))
    assert message in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"release\.toml: line \d+, column \d+: invalid TOML"):
        load_release_policy(broken(tmp_path, 'controller = "held"', 'controller = "held'))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nowhere\.toml: cannot read"):
        load_release_policy(tmp_path / "nowhere.toml")


def test_the_rules_loader_leaves_the_policy_alone(rules: RuleBook) -> None:
    assert "release" not in {j.id for j in rules.jurisdictions}


# -- what the assessor does with it ------------------------------------------------------------------------------


def assess(
    datamap: DataMap, rules: RuleBook, policy: ReleasePolicy, source: Source, status: ReportStatus
) -> list[NoticeRequested]:
    report = Report(reference="REF-P", status=status, title="Volumes copied", aware_at=AWARE, regions=["eu"])
    reported = IncidentReported(
        incident_id=incident_id("linode-eu", report.reference),
        subprocessor_id="linode-eu",
        source=source,
        delivery_id="msg_p",
        received_at=AWARE,
        report=report,
    )
    emitted: list[Message] = []
    settings: Settings = load_settings()
    oncall = OncallSettings(email="oncall@processor.example")
    Assess(
        datamap,
        rules,
        topics_for(settings.kafka),
        lambda _t, _k, m: emitted.append(m),
        oncall,
        policy=policy,
        signer=SIGNER,
    ).assess(reported)
    return [m for m in emitted if isinstance(m, NoticeRequested)]


def test_a_monitors_suspicion_is_one_oncall_alert_and_no_external_notice(
    datamap: DataMap, rules: RuleBook, policy: ReleasePolicy
) -> None:
    notices = assess(datamap, rules, policy, Source.MONITOR, ReportStatus.SUSPECTED)
    [alert] = notices
    assert (alert.audience, alert.kind, alert.release) == (Audience.ONCALL, NoticeKind.ALERT, Release.AUTO)
    eu = sum(1 for c in datamap.customers.values() if c.region == "eu")
    assert f"no notice goes to controllers or customers of the {eu} affected customer(s)" in alert.incident.description
    assert "breachwire incident confirm" in alert.incident.description


def test_a_subprocessors_suspicion_holds_controller_and_customer_notices(
    datamap: DataMap, rules: RuleBook, policy: ReleasePolicy
) -> None:
    notices = assess(datamap, rules, policy, Source.SUBPROCESSOR, ReportStatus.SUSPECTED)
    assert {n.audience for n in notices} == {Audience.CONTROLLER, Audience.CUSTOMER}
    assert {n.release for n in notices} == {Release.HELD}


def test_a_confirmed_report_sends_at_once_and_authority_reports_wait_for_approval(
    datamap: DataMap, rules: RuleBook, policy: ReleasePolicy
) -> None:
    notices = assess(datamap, rules, policy, Source.SUBPROCESSOR, ReportStatus.CONFIRMED)
    by_audience = {a: {n.release for n in notices if n.audience is a} for a in NOTICE_AUDIENCES}
    assert by_audience[Audience.CONTROLLER] == {Release.AUTO}
    assert by_audience[Audience.CUSTOMER] == {Release.AUTO}
    assert by_audience[Audience.AUTHORITY] <= {Release.APPROVE}
    assert not by_audience[Audience.ONCALL]


def test_the_same_report_under_another_policy_is_stamped_by_it(
    datamap: DataMap, rules: RuleBook, tmp_path: Path
) -> None:
    strict = load_release_policy(
        broken(tmp_path, '[subprocessor.confirmed]\n# A confirmed breach: the processor tells each controller without '
               'undue delay (GDPR Art. 33(2)), and the\n# controller\'s own 72 hours (Art. 33(1)) run from then. No '
               'person stands in between.\ncontroller = "auto"\ncustomer = "auto"',
               '[subprocessor.confirmed]\ncontroller = "approve"\ncustomer = "oncall"')
    )  # fmt: skip
    notices = assess(datamap, rules, strict, Source.SUBPROCESSOR, ReportStatus.CONFIRMED)
    assert {n.release for n in notices if n.audience is Audience.CONTROLLER} == {Release.APPROVE}
    assert not [n for n in notices if n.audience is Audience.CUSTOMER]
    assert len([n for n in notices if n.audience is Audience.ONCALL]) == 1
