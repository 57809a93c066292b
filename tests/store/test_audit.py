"""The audit chain on SQLite and PostgreSQL: appends once per key, and any change, removal or reorder is named."""

import json
import threading
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, update

from runtime.audit import GENESIS, AuditLog, Pending, entry_hash, entry_mac
from runtime.store import Ledger
from runtime.store.tables import UTCDateTime, audit_log


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


def test_a_rewritten_entry_rehashed_without_the_key_is_named(audit: AuditLog, ledger: Ledger) -> None:
    """Someone with write access to the database rewrites entry 3 and re-MACs it and every later entry, under a
    key of their own (the right one is not in the database): the first rewritten entry is named."""
    secret = b"a guess at the key"
    entries = audit.entries()
    prev = entries[1].hash
    with ledger.engine.begin() as conn:
        for e in entries[2:]:
            data = '{"n":0}' if e.seq == 3 else json.dumps(e.data, separators=(",", ":"))
            mac = entry_mac(secret, e.seq, e.key, e.at, e.incident_id, e.kind, e.actor, data, prev)
            conn.execute(update(audit_log).where(audit_log.c.seq == e.seq).values(data=data, prev_hash=prev, hash=mac))
            prev = mac
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 3
    assert "entry 3" in (verdict.problem or "") and "MAC does not match" in (verdict.problem or "")


def test_the_same_chain_under_another_key_does_not_verify(audit: AuditLog, ledger: Ledger) -> None:
    verdict = AuditLog(ledger, SecretStr("another key")).verify()
    assert not verdict.ok and verdict.seq == 1


def test_a_changed_key_column_is_named(audit: AuditLog, ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 4).values(key="event:elsewhere"))
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 4


def test_entries_from_before_the_key_verify_as_unkeyed(ledger: Ledger) -> None:
    """A ledger whose audit table predates the key: its entries are kept, checked by their sha256 and counted as
    unkeyed; new entries are keyed and link to them."""
    audit_log.drop(ledger.engine, checkfirst=True)
    old = Table(
        "audit_log",
        MetaData(),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("key", String(200), nullable=False, unique=True),
        Column("at", UTCDateTime, nullable=False),
        Column("incident_id", String(64)),
        *(Column(name, Text, nullable=False) for name in ("kind", "actor", "data", "prev_hash", "hash")),
    )
    old.create(ledger.engine)
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with ledger.engine.begin() as conn:
        prev = GENESIS
        for seq in (1, 2):
            h = entry_hash(seq, at, "inc_1", "report.received", "linode-eu", f'{{"n":{seq}}}', prev)
            conn.execute(
                old.insert().values(
                    seq=seq, key=f"old:{seq}", at=at, incident_id="inc_1", kind="report.received",
                    actor="linode-eu", data=f'{{"n":{seq}}}', prev_hash=prev, hash=h,
                )
            )  # fmt: skip
            prev = h
    audit = AuditLog(ledger)
    assert audit.append("new:3", "approval", actor="alice", data={})
    verdict = audit.verify()
    assert verdict.ok and verdict.entries == 3 and verdict.unkeyed == 2
    assert [e.version for e in audit.entries()] == [1, 1, 2]

    with ledger.engine.begin() as conn:  # an unkeyed entry may not follow a keyed one
        last = audit.entries()[-1]
        h = entry_hash(4, at, None, "approval", "mallory", "{}", last.hash)
        conn.execute(
            audit_log.insert().values(
                seq=4, key="forged:4", at=at, incident_id=None, kind="approval", actor="mallory", data="{}",
                prev_hash=last.hash, hash=h, version=1,
            )
        )  # fmt: skip
    verdict = audit.verify()
    assert not verdict.ok and verdict.seq == 4 and "unkeyed after keyed" in (verdict.problem or "")


def test_a_batch_is_appended_in_order_once_per_key(audit: AuditLog) -> None:
    batch = [
        Pending(f"event:{n}", "notice.requested", actor="assess", data={"n": n}, incident_id="inc_1")
        for n in (4, 6, 7, 6, 8)  # event:4 is in the log already; event:6 twice in the batch
    ]
    assert audit.append_many(batch) == 3
    assert [e.key for e in audit.entries()][5:] == ["event:6", "event:7", "event:8"]
    assert audit.append_many(batch) == 0
    assert audit.verify().ok and audit.count() == 8


def test_batches_from_two_writers_at_once_make_one_chain(ledger: Ledger) -> None:
    """Two record loops appending at the same time (one per topic): every entry lands once, the chain holds."""
    logs = [AuditLog(ledger), AuditLog(ledger)]

    def write(writer: int) -> None:
        for batch in range(10):
            logs[writer].append_many(
                [
                    Pending(f"w{writer}:{batch}:{n}", "notice.delivered", actor="notify", data={"n": n})
                    for n in range(20)
                ]
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = logs[0].verify()
    assert verdict.ok and verdict.entries == 400
    assert len({e.key for e in logs[0].entries()}) == 400
