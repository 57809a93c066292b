"""The audit chain against its checkpoints, and the evidence pack, on SQLite and PostgreSQL: a cut tail is named
with its range, a rewritten chain differs from its checkpoint, and an export never writes outside its folder."""

import argparse
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from support import a_report

from breachwire.commands.audit import cmd_audit
from runtime.audit import AuditLog
from runtime.checkpoints import Checkpoint, CheckpointError, CheckpointFile, anchor
from runtime.settings import Settings, load_settings
from runtime.store import Ledger
from runtime.store.tables import audit_log
from schemas import IncidentReported, Source


@pytest.fixture
def settings(ledger_url: str, tmp_path: Path) -> Settings:
    return load_settings(ledger={"url": ledger_url}, state_dir=tmp_path / "state")


@pytest.fixture
def audit(ledger: Ledger, settings: Settings) -> AuditLog:
    log = AuditLog(ledger, settings.audit.key)
    for n in range(1, 7):
        log.append(f"event:{n}", "report.received", actor="linode-eu", data={"n": n}, incident_id="inc_1")
    return log


def checkpoint(audit: AuditLog, settings: Settings) -> Checkpoint:
    head = audit.head()
    assert head is not None
    cp = Checkpoint(seq=head.seq, mac=head.hash, at=datetime.now(UTC))
    CheckpointFile(settings.audit_checkpoints).append(cp)
    return cp


def run(settings: Settings, *argv: str) -> int:
    action, *rest = argv
    args = argparse.Namespace(action=action, kafka=False)
    if action == "export":
        args.incident_id, args.dir = rest
    return cmd_audit(args, settings)


def test_the_checkpoint_file_is_appended_line_by_line(audit: AuditLog, settings: Settings) -> None:
    first = checkpoint(audit, settings)
    audit.append("event:7", "approval", actor="alice", data={})
    second = checkpoint(audit, settings)
    lines = settings.audit_checkpoints.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [6, 7]
    assert CheckpointFile(settings.audit_checkpoints).read() == [first, second]


def test_a_damaged_checkpoint_file_is_named_with_its_line(settings: Settings) -> None:
    settings.audit_checkpoints.parent.mkdir(parents=True)
    settings.audit_checkpoints.write_text('{"seq": 1, "mac": "ab", "at": "2026-01-01T00:00:00Z"}\nnot json\n')
    with pytest.raises(CheckpointError, match=r"audit-checkpoints.jsonl:2"):
        CheckpointFile(settings.audit_checkpoints).read()


def test_verify_prints_the_head_and_the_checkpoint_matched(
    audit: AuditLog, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint(audit, settings)
    assert run(settings, "verify") == 0
    out = capsys.readouterr().out
    assert f"head entry 6 {audit.entries()[-1].hash}" in out
    assert "last checkpoint matched" in out and "entry 6" in out


def test_a_cut_tail_is_named_with_its_range(
    audit: AuditLog, ledger: Ledger, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint(audit, settings)
    with ledger.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq >= 4))
    assert audit.verify().ok  # on its own, the shorter chain is a valid chain
    assert run(settings, "verify") == 1
    err = capsys.readouterr().err
    assert "entries 4-6 cut from the end" in err and "ends at entry 3" in err


def test_a_chain_rewritten_with_the_key_differs_from_its_checkpoint(
    audit: AuditLog, ledger: Ledger, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even the key's holder cannot rewrite what a checkpoint has seen: the rebuilt chain verifies on its own,
    but its entry 6 is not the one checkpointed."""
    cp = checkpoint(audit, settings)
    with ledger.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq >= 2))
    for n in range(2, 7):
        audit.append(f"rewritten:{n}", "report.received", actor="linode-eu", data={"n": -n}, incident_id="inc_1")
    verdict = audit.verify()
    assert verdict.ok
    problem, matched = anchor(verdict, [cp], "the file")
    assert matched is None and problem is not None and "entry 6 differs" in problem
    assert run(settings, "verify") == 1
    assert "rewritten" in capsys.readouterr().err


def test_a_changed_entry_fails_before_the_checkpoints(
    audit: AuditLog, ledger: Ledger, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint(audit, settings)
    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 5).values(key="event:other"))
    assert run(settings, "verify") == 1
    assert "BROKEN at entry 5" in capsys.readouterr().err


def reported(ledger: Ledger) -> None:
    ledger.incidents.record_report(
        IncidentReported(
            incident_id="inc_1",
            subprocessor_id="linode-eu",
            source=Source.SUBPROCESSOR,
            delivery_id="msg_1",
            received_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
            report=a_report(),
        )
    )


def test_the_evidence_pack_carries_the_checkpoints_that_anchor_it(
    audit: AuditLog, ledger: Ledger, settings: Settings, tmp_path: Path
) -> None:
    reported(ledger)
    cp = checkpoint(audit, settings)
    audit.append("event:other", "approval", actor="alice", data={}, incident_id="inc_other")
    last = checkpoint(audit, settings)
    assert run(settings, "export", "inc_1", str(tmp_path / "pack")) == 0
    pack = json.loads((tmp_path / "pack" / "checkpoints.json").read_text())
    assert [c["seq"] for c in pack["checkpoints"]] == [cp.seq, last.seq] and pack["covered"]
    links = pack["links"]
    assert [link["seq"] for link in links] == [1, 2, 3, 4, 5, 6]
    assert links[-1]["hash"] == cp.mac
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(links))
    timeline = json.loads((tmp_path / "pack" / "timeline.json").read_text())
    assert timeline["audit_chain"]["intact"] and timeline["audit_chain"]["last_checkpoint_matched"] == last.seq
    assert timeline["entries"][0]["key"] == "event:1" and timeline["entries"][0]["version"] == 2


@pytest.mark.parametrize("hostile", ["../../etc/x", "inc_1/../../x", "/etc/passwd", "inc_1.txt", ""])
def test_an_export_of_a_hostile_id_is_refused_and_writes_nothing(
    audit: AuditLog,
    ledger: Ledger,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    hostile: str,
) -> None:
    reported(ledger)
    out = tmp_path / "a" / "b" / "pack"
    before = sorted(tmp_path.rglob("*"))
    assert run(settings, "export", hostile, str(out)) == 2
    assert "is not an incident id" in capsys.readouterr().err
    assert sorted(tmp_path.rglob("*")) == before


def test_a_hostile_notice_id_in_the_ledger_writes_nothing(
    audit: AuditLog, ledger: Ledger, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A notice id put into the ledger by hand (the message models would refuse it) names no file."""
    from test_ledger import requested

    from runtime.store.tables import notices

    reported(ledger)
    ledger.delivery.record_requested([requested("ntc_1")])
    with ledger.engine.begin() as conn:
        conn.execute(update(notices).where(notices.c.notice_id == "ntc_1").values(notice_id="../../../escaped"))
    out = tmp_path / "pack"
    assert run(settings, "export", "inc_1", str(out)) == 1
    assert "no notice id" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path.parent / "escaped.txt").exists()
