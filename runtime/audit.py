"""The audit trail: an append-only log in the ledger's database where each entry carries the MAC of the one
before it, so that changing, removing or reordering any entry breaks the chain and ``verify`` names it.

An entry's MAC is HMAC-SHA256, under a key kept outside the database (``audit.key``), over every column of the
entry: chain version, position, key, time, incident, kind, actor, data and the previous entry's MAC (canonical
JSON). Someone who can write the database but has not got the key cannot rewrite an entry and re-MAC the rest.
Entries are appended with the next position as primary key: two writers racing for the same position collide on
the key and the loser retries on top of the winner, on SQLite and PostgreSQL alike. Every entry has a unique
``key`` so that a consumer replaying its topic appends nothing twice.

Chain versions: entries written before the chain was keyed (version 1) carry a plain sha256 over all columns but
``key``; they are still checked as before and reported as unkeyed. Every new entry is version 2 and links to the
one before it whatever its version; an unkeyed entry after a keyed one is refused by ``verify``.

Cutting the newest entries leaves a valid shorter chain: the checkpoints (``runtime.checkpoints``), the head
published to its own topic and appended to a file outside the database, are what ``verify`` compares it with.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from runtime.settings import AuditSettings
from runtime.store import Ledger
from runtime.store.db import in_chunks
from runtime.store.tables import AUDIT_UNKEYED, audit_log

GENESIS = "0" * 64
UNKEYED, KEYED = AUDIT_UNKEYED, 2


@dataclass(frozen=True)
class Pending:
    """An entry to append: what it records (``key``, unique), its kind, who, the data, the incident, when."""

    key: str
    kind: str
    actor: str
    data: dict[str, Any]
    incident_id: str | None = None
    at: datetime | None = None

    def prepared(self) -> dict[str, Any]:
        when = (self.at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        return {
            "key": self.key,
            "at": when,
            "incident_id": self.incident_id,
            "kind": self.kind,
            "actor": self.actor,
            "data": _canonical(self.data),
        }


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
    version: int = KEYED


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str
    problem: str | None = None
    seq: int | None = None
    head_seq: int = 0
    unkeyed: int = 0
    macs: dict[int, str] = field(default_factory=dict, repr=False, compare=False)


def entry_hash(
    seq: int, at: datetime, incident_id: str | None, kind: str, actor: str, data_json: str, prev_hash: str
) -> str:
    """A version 1 (unkeyed) entry's hash."""
    canonical = json.dumps(
        [seq, at.astimezone(UTC).isoformat(), incident_id, kind, actor, data_json, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def entry_mac(
    secret: bytes,
    seq: int,
    key: str,
    at: datetime,
    incident_id: str | None,
    kind: str,
    actor: str,
    data_json: str,
    prev_hash: str,
) -> str:
    """A version 2 (keyed) entry's MAC over every column but the MAC itself."""
    canonical = json.dumps(
        [KEYED, seq, key, at.astimezone(UTC).isoformat(), incident_id, kind, actor, data_json, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def _secret(key: SecretStr | None) -> bytes:
    return (key or AuditSettings().key).get_secret_value().encode()


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _entry(row: Any) -> Entry:
    return Entry(**{**row._mapping, "data": json.loads(row.data)})


def _add_version_column(ledger: Ledger) -> None:
    """A ledger from before the chain was keyed: its entries become version 1 (unkeyed)."""
    if "version" in {c["name"] for c in inspect(ledger.engine).get_columns("audit_log")}:
        return
    try:
        with ledger.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE audit_log ADD COLUMN version INTEGER NOT NULL DEFAULT {UNKEYED}"))
    except DBAPIError:
        # another process added it first
        if "version" not in {c["name"] for c in inspect(ledger.engine).get_columns("audit_log")}:
            raise


class AuditLog:
    def __init__(self, ledger: Ledger, key: SecretStr | None = None) -> None:
        """``key`` is ``settings.audit.key``; left out, the demo key of the embedded defaults."""
        self._engine = ledger.engine
        self._secret = _secret(key)
        _add_version_column(ledger)

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
        return self.append_many([Pending(key, kind, actor, data, incident_id, at)]) == 1

    def append_many(self, pending: Sequence[Pending]) -> int:
        """Append the entries whose key is not in the log yet, in order, in one transaction; returns how many.

        A consumer appends its whole batch at once: one look-up of the keys, one read of the head, one insert,
        where an entry at a time cost a transaction each (most of the record consumer's CPU).
        """
        fresh: dict[str, Pending] = {}
        for p in pending:
            fresh.setdefault(p.key, p)
        if not fresh:
            return 0
        rows = [p.prepared() for p in fresh.values()]
        for _ in range(50):
            try:
                with self._engine.begin() as conn:
                    known = self._known_keys(conn, list(fresh))
                    todo = [r for r in rows if r["key"] not in known]
                    if not todo:
                        return 0
                    last = conn.execute(
                        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
                    ).first()
                    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
                    chained = []
                    for r in todo:
                        seq += 1
                        mac = entry_mac(
                            self._secret,
                            seq,
                            r["key"],
                            r["at"],
                            r["incident_id"],
                            r["kind"],
                            r["actor"],
                            r["data"],
                            prev,
                        )
                        chained.append({**r, "seq": seq, "prev_hash": prev, "hash": mac, "version": KEYED})
                        prev = mac
                    conn.execute(audit_log.insert(), chained)
                return len(chained)
            except IntegrityError:
                continue  # another writer took these positions (or one of these keys) first: look again
        raise RuntimeError("audit log: could not append after 50 attempts")

    @staticmethod
    def _known_keys(conn: Connection, keys: list[str]) -> set[str]:
        known: set[str] = set()
        for chunk in in_chunks(keys):
            known.update(conn.execute(select(audit_log.c.key).where(audit_log.c.key.in_(chunk))).scalars())
        return known

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
            return check(rows, self._secret)

    def head(self) -> Entry | None:
        """The newest entry, if any."""
        with self._engine.connect() as conn:
            row = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).first()
        return _entry(row) if row else None


def check(rows: Iterable[Any], secret: bytes | None = None) -> Verdict:
    """Walk the chain from the first entry; the first entry that does not fit is named."""
    secret = secret if secret is not None else _secret(None)
    prev, expected_seq, count, unkeyed, keyed = GENESIS, 1, 0, 0, False
    macs: dict[int, str] = {}

    def broken(problem: str, seq: int) -> Verdict:
        return Verdict(False, count, prev, problem, seq, expected_seq - 1, unkeyed, macs)

    for row in rows:
        if row.seq != expected_seq:
            missing = (
                f"entry {expected_seq}" if row.seq == expected_seq + 1 else f"entries {expected_seq}-{row.seq - 1}"
            )
            return broken(f"{missing} removed (entry {row.seq} follows entry {expected_seq - 1})", row.seq)
        if row.prev_hash != prev:
            return broken(f"entry {row.seq} does not follow entry {row.seq - 1}: removed or reordered", row.seq)
        version = getattr(row, "version", UNKEYED)
        if version == KEYED:
            recomputed = entry_mac(
                secret, row.seq, row.key, row.at, row.incident_id, row.kind, row.actor, row.data, row.prev_hash
            )
            if not hmac.compare_digest(recomputed, row.hash):
                return broken(
                    f"entry {row.seq} ({row.kind}) was changed: its MAC does not match "
                    "(rewritten, or re-MACed without the audit key)",
                    row.seq,
                )
            keyed = True
        elif version == UNKEYED:
            if keyed:
                return broken(f"entry {row.seq} ({row.kind}) is unkeyed after keyed entries: forged", row.seq)
            recomputed = entry_hash(row.seq, row.at, row.incident_id, row.kind, row.actor, row.data, row.prev_hash)
            if recomputed != row.hash:
                return broken(f"entry {row.seq} ({row.kind}) was changed: its hash does not match", row.seq)
            unkeyed += 1
        else:
            return broken(f"entry {row.seq} ({row.kind}) has an unknown chain version {version}", row.seq)
        macs[row.seq] = row.hash
        prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    return Verdict(True, count, prev, head_seq=expected_seq - 1, unkeyed=unkeyed, macs=macs)
