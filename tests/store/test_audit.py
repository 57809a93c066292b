"""The audit chain on SQLite and PostgreSQL: appends once per key, and any change, removal or reorder is named."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, update

from runtime.audit import AuditLog, audit_log
from runtime.ledger import Ledger


@pytest.fixture
def audit(ledger: Ledger) -> AuditLog:
    log = AuditLog(ledger)
    for n in range(1, 6):
        log.append(f"event:{n}", "report.received", actor="linode-eu", data={"n": n}, incident_id="inc_1")
    return log


def test_a_fresh_chain_verifies(audit: AuditLog) -> None:
    verdict = audit.verify()
    assert verdict.ok and verdict.entries == 5
    assert verdict.head == audit.entries()[-1].hash


def test_an_entry_is_appended_once_per_key(audit: AuditLog) -> None:
    assert not audit.append("event:3", "report.received", actor="x", data={"n": 99})
    assert audit.count() == 5
    assert audit.append("event:6", "approval", actor="alice", data={"reason": "ok"}, at=datetime.now(UTC))
    assert [e.seq for e in audit.entries()] == [1, 2, 3, 4, 5, 6]
    assert audit.verify().ok


def test_a_changed_entry_is_named(audit: AuditLog, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(data='{"n":333}'))
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 3
    assert "entry 3" in (verdict.problem or "") and "changed" in (verdict.problem or "")


def test_a_changed_actor_is_named(audit: AuditLog, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="mallory"))
    assert audit.verify().seq == 2


def test_a_removed_entry_is_named(audit: AuditLog, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 4))
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 5
    assert "entry 4 removed" in (verdict.problem or "")


def test_a_removed_entry_with_the_rest_renumbered_is_named(audit: AuditLog, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 2))
        for seq in (3, 4, 5):
            conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(seq=seq - 1))
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 2


def test_reordered_entries_are_named(audit: AuditLog, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(seq=-2))
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(seq=2))
        conn.execute(update(audit_log).where(audit_log.c.seq == -2).values(seq=3))
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 2
    assert "entry 2" in (verdict.problem or "")


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(audit: AuditLog, ledger: Ledger) -> None:
    from runtime.audit import entry_hash

    [third] = [e for e in audit.entries() if e.seq == 3]
    forged = entry_hash(3, third.at, third.incident_id, third.kind, third.actor, '{"n":0}', third.prev_hash)
    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(data='{"n":0}', hash=forged))
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 4
