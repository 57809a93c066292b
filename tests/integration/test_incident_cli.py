"""``breachwire incident`` and ``breachwire audit`` as on-call staff run them, on the real broker."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from support import a_report, held_authority_notice, read_topic
from test_clock import held_controller_notice

from breachwire.cli import main
from consumers.record.consumer import RecordAssessments, RecordReports, RecordRequests
from runtime.audit import AuditLog
from runtime.consumer import Received
from runtime.notice_signing import NoticeSigner
from runtime.settings import Settings, SigningSettings, settings_env
from runtime.store import Ledger
from runtime.store.delivery import NoticeState
from runtime.store.tables import api_tokens, audit_log
from runtime.topics import topics_for
from schemas import Deadline, IncidentAssessed, IncidentReported, NoticeRequested, ReportStatus

pytestmark = pytest.mark.integration


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("BREACHWIRE_TOKEN", raising=False)
    yield settings


@pytest.fixture
def admin(env: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    """The first token: made without one on the empty ledger, an admin."""
    assert main(["incident", "token", "create", "--name", "admin-1"]) == 0
    out = capsys.readouterr().out
    assert "first token, for admin-1 (admin), made without a token" in out
    return out.strip().splitlines()[-1]


def as_(token: str, argv: list[str]) -> int:
    """``breachwire`` with BREACHWIRE_TOKEN set, as on-call staff run it (never a token argument)."""
    os.environ["BREACHWIRE_TOKEN"] = token
    try:
        return main(argv)
    finally:
        del os.environ["BREACHWIRE_TOKEN"]


def token(role: str, capsys: pytest.CaptureFixture[str], admin: str) -> str:
    assert as_(admin, ["incident", "token", "create", "--role", role, "--name", f"{role}-1"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def record(settings: Settings, ledger: Ledger, expected: int) -> list[IncidentReported]:
    records = read_topic(settings, topics_for(settings.kafka).reported, expected)
    received = [
        Received(IncidentReported.model_validate_json(r.value), r.topic, r.partition, r.offset) for r in records
    ]
    RecordReports(ledger)(received)
    return [r.message for r in received]


def test_an_incident_from_declaration_to_evidence_pack(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    responder, approver = token("responder", capsys, admin), token("approver", capsys, admin)
    report_file = tmp_path / "report.json"
    report_file.write_text(a_report(status=ReportStatus.SUSPECTED).model_dump_json())
    assert as_(responder, ["incident", "declare", "--subprocessor", "linode-eu", str(report_file)]) == 0
    incident = capsys.readouterr().out.split(":")[0]
    ledger = Ledger.connect(env.ledger.url)
    [reported] = record(env, ledger, 1)

    # what assess and notify would have written: an assessment with a legal clock and a held authority notice
    now = datetime.now(UTC)
    deadline = Deadline(
        jurisdiction="eu", audience="authority", due_at=now + timedelta(hours=70), citation="GDPR 33(1)"
    )
    notice = held_authority_notice(ledger, incident)
    RecordRequests(ledger, NoticeSigner.from_settings(SigningSettings()))([Received(notice, "t", 0, 0)])
    assessed = IncidentAssessed(
        incident_id=incident,
        revision=reported.revision,
        customer_id="acme-eu",
        assessed_at=now,
        jurisdictions=["eu"],
        deadlines=[deadline],
        notice_ids=[notice.notice_id],
    )
    RecordAssessments(ledger)([Received(assessed, "t", 0, 0)])

    assert as_(responder, ["incident", "confirm", incident, "--note", "seen in logs"]) == 0
    record(env, ledger, 2)
    assert as_(responder, ["incident", "approve", notice.notice_id, "--reason", "x"]) == 1
    assert "may not approve" in capsys.readouterr().err
    assert as_(approver, ["incident", "approve", notice.notice_id, "--reason", "legal ok"]) == 0
    [released] = read_topic(env, topics_for(env.kafka).notices, 1)
    assert NoticeRequested.model_validate_json(released.value).notice_id == notice.notice_id

    capsys.readouterr()
    assert as_(responder, ["incident", "show", incident]) == 0
    shown = capsys.readouterr().out
    assert "oncall.declare" in shown and "oncall.confirm" in shown and "notice.approved" in shown
    assert "eu" in shown and "acme-eu" in shown
    assert "requested" in shown  # the approved notice, released
    assert "GDPR 33(1)" in shown and "2d 21h" in shown  # due in 70 h, less a moment

    assert main(["audit", "verify"]) == 0
    assert main(["audit", "export", incident, str(tmp_path / "pack")]) == 0
    assert (tmp_path / "pack" / "timeline.json").read_text().count("notice.approved") == 1
    assert notice.notice_id in (tmp_path / "pack" / "receipts.json").read_text()

    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="someone-else"))
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "entry 2" in capsys.readouterr().err
    assert AuditLog(ledger).count() >= 5
    ledger.close()


def test_actions_without_a_token_are_refused(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incident", "list"]) == 1  # stdin is not a terminal here: nobody to ask
    assert "no token: set BREACHWIRE_TOKEN, or run on a terminal to be asked for it" in capsys.readouterr().err


def test_a_token_is_never_an_argument(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["incident", "list", "--token", "bw_x"])
    assert "unrecognized arguments: --token bw_x" in capsys.readouterr().err


def test_on_a_terminal_the_token_is_asked_for(
    env: Settings, admin: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return admin

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", getpass)
    assert main(["incident", "list"]) == 0
    assert asked == ["on-call token: "]


def test_only_the_first_token_is_made_without_one_and_it_is_an_admin(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incident", "token", "create", "--role", "responder", "--name", "r"]) == 1
    assert "the first one is an admin" in capsys.readouterr().err
    assert main(["incident", "token", "create", "--name", "first"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["incident", "token", "create", "--name", "second"]) == 1
    assert "no token" in capsys.readouterr().err
    responder = (as_(first, ["incident", "token", "create", "--name", "r1"]), capsys.readouterr().out)[1]
    assert "token for r1 (responder)" in responder
    assert as_(responder.strip().splitlines()[-1], ["incident", "token", "create", "--name", "x"]) == 1
    assert "may not manage tokens" in capsys.readouterr().err


def test_revoked_and_expired_tokens_are_refused_and_listed_without_the_token(
    env: Settings, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    responder = token("responder", capsys, admin)
    assert as_(admin, ["incident", "token", "create", "--name", "brief", "--expires-in", "1m"]) == 0
    brief = capsys.readouterr().out.strip().splitlines()[-1]
    assert as_(brief, ["incident", "list"]) == 0
    ledger = Ledger.connect(env.ledger.url)
    with ledger.engine.begin() as conn:  # a minute later
        conn.execute(update(api_tokens).where(api_tokens.c.name == "brief").values(expires_at=datetime.now(UTC)))
    assert as_(brief, ["incident", "list"]) == 1
    assert "the token expired at" in capsys.readouterr().err

    assert as_(responder, ["incident", "token", "revoke", "responder-1"]) == 1
    assert "may not manage tokens" in capsys.readouterr().err
    assert as_(admin, ["incident", "token", "revoke", "responder-1"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert as_(responder, ["incident", "list"]) == 1
    assert "the token was revoked at" in capsys.readouterr().err
    assert as_(admin, ["incident", "token", "revoke", "responder-1"]) == 1  # nothing active left by that name
    capsys.readouterr()

    assert as_(admin, ["incident", "token", "list"]) == 0
    listing = capsys.readouterr().out
    lines = {line.split()[1]: line for line in listing.splitlines()[1:]}
    assert set(lines) == {"admin-1", "responder-1", "brief"}
    assert "responder" in lines["responder-1"] and lines["responder-1"].split()[-1] != "-"
    assert lines["admin-1"].split()[-1] == "-"
    assert responder not in listing and admin not in listing
    [entry] = [e for e in AuditLog(ledger).entries() if e.kind == "token_revoked"]
    assert entry.actor == "admin-1" and entry.data["name"] == "responder-1"
    ledger.close()


def test_failed_sign_ins_are_throttled_and_a_good_token_still_works_elsewhere(
    env: Settings, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    for _ in range(env.oncall.signin_failure_burst):
        assert as_("bw_guess", ["incident", "list"]) == 1
        assert "unknown token" in capsys.readouterr().err
    assert as_("bw_guess", ["incident", "list"]) == 1
    assert "too many failed sign-ins; try again in" in capsys.readouterr().err
    assert as_(admin, ["incident", "list"]) == 1  # this client is throttled, good token or not
    capsys.readouterr()


def test_a_bad_report_file_is_named_with_the_field(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    responder = token("responder", capsys, admin)
    bad = tmp_path / "bad.json"
    bad.write_text('{"reference": "R", "status": "bogus", "title": "t", "aware_at": "2026-01-01T00:00:00Z"}')
    assert as_(responder, ["incident", "declare", "--subprocessor", "linode-eu", str(bad)]) == 1
    assert f"{bad}: status" in capsys.readouterr().err


def test_a_report_file_naming_an_unknown_data_category_is_refused(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    responder = token("responder", capsys, admin)
    report = tmp_path / "report.json"
    report.write_text(a_report(data_categories=["tickets", "tikets"]).model_dump_json())
    assert as_(responder, ["incident", "declare", "--subprocessor", "linode-eu", str(report)]) == 1
    err = capsys.readouterr().err
    assert "report.data_categories[1]: unknown data category 'tikets'" in err
    assert read_topic(env, topics_for(env.kafka).reported, 1, timeout_s=2) == []


def test_releasing_held_notices_and_rejecting_an_authority_report(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    responder, approver = token("responder", capsys, admin), token("approver", capsys, admin)
    report_file = tmp_path / "report.json"
    report_file.write_text(a_report(status=ReportStatus.SUSPECTED).model_dump_json())
    assert as_(responder, ["incident", "declare", "--subprocessor", "linode-eu", str(report_file)]) == 0
    incident = capsys.readouterr().out.split(":")[0]
    ledger = Ledger.connect(env.ledger.url)
    record(env, ledger, 1)
    held = held_controller_notice(ledger, incident)
    authority = held_authority_notice(ledger, incident)

    release = ["incident", "release", incident, "--audience", "controller"]
    assert as_(responder, [*release, "--reason", "confirmed with Linode"]) == 0
    assert "1 held controller notice(s) released by responder-1 (confirmed with Linode)" in capsys.readouterr().out
    [published] = read_topic(env, topics_for(env.kafka).notices, 1)
    assert NoticeRequested.model_validate_json(published.value) == held  # unchanged: same notice, same id
    assert as_(responder, [*release, "--reason", "again"]) == 0
    assert f"{incident}: 0 held controller notice(s) released" in capsys.readouterr().out

    reject = ["incident", "reject", authority.notice_id, "--reason", "not yet"]
    assert as_(responder, reject) == 1
    assert "may not reject" in capsys.readouterr().err
    assert as_(approver, reject) == 0
    assert f"{authority.notice_id}: rejected by approver-1 (not yet); it will not be sent" in capsys.readouterr().out
    assert as_(approver, reject) == 1
    assert "does not await approval: it is rejected" in capsys.readouterr().err
    assert ledger.delivery.notice_state(authority.notice_id) is NoticeState.REJECTED
    ledger.close()
