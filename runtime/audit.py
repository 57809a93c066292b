"""The audit trail: an append-only log in the ledger's database where each entry carries the hash of the one
before it, so that changing, removing or reordering any entry breaks the chain and ``verify`` names it.

An entry's hash is sha256 over its position, time, incident, kind, actor, data and the previous entry's hash
(canonical JSON). Entries are appended with the next position as primary key: two writers racing for the same
position collide on the key and the loser retries on top of the winner, on SQLite and PostgreSQL alike. Every
entry has a unique ``key`` so that a consumer replaying its topic appends nothing twice.

Removing the newest entries leaves a valid shorter chain: ``verify`` prints the head hash so that it can be
kept elsewhere (a ticket, a signed email) and compared later.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, func, select
from sqlalchemy.exc import IntegrityError

from runtime.ledger import Ledger, UTCDateTime, metadata

GENESIS = "0" * 64

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column(
        "key", String(200), nullable=False, unique=True, doc="What the entry records, once: e.g. report:<id>:<rev>."
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("incident_id", String(64), index=True),
    Column("kind", String(40), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


@dataclass(frozen=True)
class Entry:
    seq: int
    key: str
    at: datetime
    incident_id: str | None
    kind: str
    actor: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str
    problem: str | None = None
    seq: int | None = None


def entry_hash(
    seq: int, at: datetime, incident_id: str | None, kind: str, actor: str, data_json: str, prev_hash: str
) -> str:
    canonical = json.dumps(
        [seq, at.astimezone(UTC).isoformat(), incident_id, kind, actor, data_json, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _entry(row: Any) -> Entry:
    return Entry(**{**row._mapping, "data": json.loads(row.data)})


class AuditLog:
    def __init__(self, ledger: Ledger) -> None:
        self._engine = ledger.engine
        # the table was defined after the ledger may have created its tables: make sure it exists
        audit_log.create(self._engine, checkfirst=True)

    def append(
        self,
        key: str,
        kind: str,
        *,
        actor: str,
        data: dict[str, Any],
        incident_id: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Append one entry unless ``key`` is already in the log; returns whether it was appended."""
        when = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        data_json = _canonical(data)
        for _ in range(50):
            try:
                with self._engine.begin() as conn:
                    if conn.execute(select(audit_log.c.seq).where(audit_log.c.key == key)).first():
                        return False
                    last = conn.execute(
                        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
                    ).first()
                    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
                    conn.execute(
                        audit_log.insert().values(
                            seq=seq,
                            key=key,
                            at=when,
                            incident_id=incident_id,
                            kind=kind,
                            actor=actor,
                            data=data_json,
                            prev_hash=prev,
                            hash=entry_hash(seq, when, incident_id, kind, actor, data_json, prev),
                        )
                    )
                return True
            except IntegrityError:
                continue  # another writer took this position (or this key) first: look again
        raise RuntimeError("audit log: could not append after 50 attempts")

    def entries(self, incident_id: str | None = None) -> list[Entry]:
        query = select(audit_log).order_by(audit_log.c.seq)
        if incident_id is not None:
            query = query.where(audit_log.c.incident_id == incident_id)
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())

    def verify(self) -> Verdict:
        """Walk the chain from the first entry; the first entry that does not fit is named."""
        with self._engine.connect() as conn:
            rows: Iterable[Any] = conn.execute(select(audit_log).order_by(audit_log.c.seq))
            return check(rows)


def check(rows: Iterable[Any]) -> Verdict:
    prev, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        if row.seq != expected_seq:
            missing = (
                f"entry {expected_seq}" if row.seq == expected_seq + 1 else f"entries {expected_seq}-{row.seq - 1}"
            )
            return Verdict(
                False, count, prev, f"{missing} removed (entry {row.seq} follows entry {expected_seq - 1})", row.seq
            )
        if row.prev_hash != prev:
            return Verdict(
                False,
                count,
                prev,
                f"entry {row.seq} does not follow entry {row.seq - 1}: removed or reordered",
                row.seq,
            )
        recomputed = entry_hash(row.seq, row.at, row.incident_id, row.kind, row.actor, row.data, row.prev_hash)
        if recomputed != row.hash:
            return Verdict(
                False, count, prev, f"entry {row.seq} ({row.kind}) was changed: its hash does not match", row.seq
            )
        prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    return Verdict(True, count, prev)
