"""Holds: a held notice is delivered once released, an authority notice once approved, a rejected
never; and the reminders about held notices."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select, update

from runtime.store.db import Store, insert_ignore, insert_new
from runtime.store.delivery import NoticeState
from runtime.store.tables import (
    approvals,
    clocks,
    decisions,
    held_notices,
    hold_reminders,
    incidents,
    notice_queue,
    notices,
)
from schemas import Audience, NoticeRequested


class Decision(StrEnum):
    RELEASED = "released"
    REJECTED = "rejected"


HeldClock = tuple[str, str, datetime, datetime]
"""(jurisdiction, audience, started, due) of a clock that held notices affect."""


@dataclass
class HeldClocks:
    """An incident's held notices: how many, the reminder stage reached, and (jurisdiction, audience, started,
    due) of the clocks of the customers they go to, the earliest due per jurisdiction, audience and start."""

    incident_id: str
    held: int
    stage: int
    clocks: list[HeldClock] = field(default_factory=list)


class ReleaseStore(Store):
    def approve(self, notice_id: str, *, by: str, reason: str, at: datetime) -> bool:
        """Record an approval; returns False when the notice was approved before (the first one stands)."""
        with self.engine.begin() as conn:
            added = insert_ignore(
                conn, approvals, [{"notice_id": notice_id, "approved_by": by, "reason": reason, "approved_at": at}]
            )
            conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.AWAITING_APPROVAL.value)
                .values(state=NoticeState.REQUESTED.value)
            )
        return bool(added)

    def is_approved(self, notice_id: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(approvals.c.notice_id).where(approvals.c.notice_id == notice_id)).first()
        return found is not None

    def approval(self, notice_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(approvals).where(approvals.c.notice_id == notice_id)).first()
        return None if row is None else dict(row._mapping)

    def held_request(self, notice_id: str) -> NoticeRequested | None:
        """The notice, as requested, of a notice that is held or needs approval."""
        with self.engine.connect() as conn:
            message = conn.execute(select(held_notices.c.message).where(held_notices.c.notice_id == notice_id)).scalar()
        return None if message is None else NoticeRequested.model_validate_json(message)

    def cleared(self, notice_ids: Sequence[str]) -> set[str]:
        """Those of ``notice_ids`` a person let go: approved, or released."""
        if not notice_ids:
            return set()
        wanted = set(notice_ids)
        approved = select(approvals.c.notice_id).where(approvals.c.notice_id.in_(wanted))
        released = select(decisions.c.notice_id).where(
            decisions.c.notice_id.in_(wanted), decisions.c.decision == Decision.RELEASED.value
        )
        with self.engine.connect() as conn:
            return set(conn.execute(approved.union(released)).scalars())

    def release(
        self, incident_id: str, audience: Audience | None, *, by: str, reason: str, at: datetime
    ) -> tuple[int, list[NoticeRequested]]:
        """Release an incident's held notices (of one audience, or all): records who, when and why for each and
        makes it requested again. Returns how many were released now, and the notices to republish: those,
        and those released before and not attempted yet (a release whose republishing failed is completed by
        the next one)."""
        held = (notices.c.incident_id == incident_id) & (notices.c.state == NoticeState.HELD.value)
        if audience is not None:
            held &= notices.c.audience == audience
        with self.engine.begin() as conn:
            ids = list(conn.execute(select(notices.c.notice_id).where(held)).scalars())
            rows = [
                {
                    "notice_id": i,
                    "decision": Decision.RELEASED.value,
                    "decided_by": by,
                    "reason": reason,
                    "decided_at": at,
                }
                for i in ids
            ]
            insert_new(conn, decisions, rows)
            if ids:
                conn.execute(update(notices).where(held).values(state=NoticeState.REQUESTED.value))
            pending = (
                select(held_notices.c.message)
                .join(notices, notices.c.notice_id == held_notices.c.notice_id)
                .join(decisions, decisions.c.notice_id == held_notices.c.notice_id)
                .outerjoin(notice_queue, notice_queue.c.notice_id == held_notices.c.notice_id)
                .where(
                    notices.c.incident_id == incident_id,
                    notices.c.state == NoticeState.REQUESTED.value,
                    notice_queue.c.notice_id.is_(None),
                    decisions.c.decision == Decision.RELEASED.value,
                )
            )
            if audience is not None:
                pending = pending.where(notices.c.audience == audience)
            released = [NoticeRequested.model_validate_json(m) for m in conn.execute(pending).scalars()]
        return len(ids), released

    def reject(self, notice_id: str, *, by: str, reason: str, at: datetime) -> bool:
        """Refuse a notice that awaits approval: it is settled and never sent. False when it does not await
        approval (approved, sent, rejected before, or never held for approval)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(notices)
                .where(notices.c.notice_id == notice_id, notices.c.state == NoticeState.AWAITING_APPROVAL.value)
                .values(state=NoticeState.REJECTED.value)
            )
            if not result.rowcount:
                return False
            insert_new(
                conn,
                decisions,
                [
                    {
                        "notice_id": notice_id,
                        "decision": Decision.REJECTED.value,
                        "decided_by": by,
                        "reason": reason,
                        "decided_at": at,
                    }
                ],
            )
        return True

    def decision(self, notice_id: str) -> dict[str, Any] | None:
        """Who released or rejected a notice, when and why."""
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.notice_id == notice_id)).first()
        return None if row is None else dict(row._mapping)

    def held_recipients(self) -> set[tuple[str, str]]:
        """(incident, recipient) of every held notice."""
        query = select(notices.c.incident_id, notices.c.recipient_id).where(notices.c.state == NoticeState.HELD.value)
        with self.engine.connect() as conn:
            return {(incident, recipient) for incident, recipient in conn.execute(query.distinct())}

    def held_clocks(self) -> list[HeldClocks]:
        """Per incident with held notices (and not dismissed): how many, and the clocks of the customers they
        go to (a few rows per incident, however many customers)."""
        held = (
            select(notices.c.incident_id, notices.c.recipient_id)
            .where(notices.c.state == NoticeState.HELD.value)
            .distinct()
            .subquery()
        )
        counts = (
            select(notices.c.incident_id, func.count())
            .where(notices.c.state == NoticeState.HELD.value)
            .group_by(notices.c.incident_id)
        )
        query = (
            select(
                clocks.c.incident_id,
                clocks.c.jurisdiction,
                clocks.c.audience,
                clocks.c.started_at,
                func.min(clocks.c.due_at),
            )
            .join(held, (held.c.incident_id == clocks.c.incident_id) & (held.c.recipient_id == clocks.c.customer_id))
            .outerjoin(incidents, incidents.c.incident_id == clocks.c.incident_id)
            .where(or_(incidents.c.status.is_(None), incidents.c.status != "dismissed"))
            .group_by(clocks.c.incident_id, clocks.c.jurisdiction, clocks.c.audience, clocks.c.started_at)
        )
        found: dict[str, HeldClocks] = {}
        with self.engine.connect() as conn:
            count = {incident: n for incident, n in conn.execute(counts)}
            stages = {incident: stage for incident, stage in conn.execute(select(hold_reminders))}
            for incident, jurisdiction, audience, started, due in conn.execute(query):
                entry = found.setdefault(
                    incident, HeldClocks(incident, count.get(incident, 0), stages.get(incident, 0))
                )
                entry.clocks.append((jurisdiction, audience, started, due))
        return list(found.values())

    def advance_hold_reminder(self, incident_id: str, stage: int) -> bool:
        """Move an incident's held-notice reminders to ``stage``; False when another process already did."""
        with self.engine.begin() as conn:
            if insert_ignore(conn, hold_reminders, [{"incident_id": incident_id, "stage": stage}]):
                return True
            result = conn.execute(
                update(hold_reminders)
                .where(hold_reminders.c.incident_id == incident_id, hold_reminders.c.stage < stage)
                .values(stage=stage)
            )
        return bool(result.rowcount)
