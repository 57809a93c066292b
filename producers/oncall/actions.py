"""What on-call staff do to an incident, for the API and the CLI alike: each action checks the actor's role,
publishes a report (with source ``oncall``) or records a decision on held notices, and appends to the audit trail.

Approving an authority notice, or releasing an incident's held notices, records who, when and why in the ledger,
then republishes each notice, unchanged (same notice id), to its topic: the notifier sees it again,
finds the approval or release in the ledger and delivers it (a held notice is never delivered without one,
whichever copy of it the notifier reads, and a notice delivered once is not delivered again). A rejected
authority notice is settled in the ledger and never sent.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from producers.oncall.tokens import Action, Actor
from producers.publish import ReportPublisher
from runtime.audit import AuditLog
from runtime.datamap import UnknownNames, Vocabulary
from runtime.store import Ledger
from runtime.store.delivery import NoticeState
from schemas import Audience, IncidentReported, Release, Report, ReportStatus, Source

STATUS_OF = {
    Action.CONFIRM: ReportStatus.CONFIRMED,
    Action.DISMISS: ReportStatus.DISMISSED,
    Action.UPDATE: ReportStatus.UPDATE,
    Action.RESOLVE: ReportStatus.RESOLVED,
}
CLOSED = {ReportStatus.RESOLVED, ReportStatus.DISMISSED}
RELEASABLE = (Audience.CONTROLLER, Audience.CUSTOMER)  # the audiences the release policy may hold


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The action does not fit where the incident or notice stands."""


class OncallActions:
    def __init__(
        self,
        ledger: Ledger,
        publisher: ReportPublisher,
        audit: AuditLog,
        vocabulary: Vocabulary,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._audit = audit
        self._vocabulary = vocabulary
        self._clock = clock

    def declare(self, actor: Actor, subprocessor_id: str, report: Report) -> IncidentReported:
        """A new incident (or a new report about one) as on-call staff see it."""
        actor.require(Action.DECLARE)
        if subprocessor_id not in self._vocabulary.subprocessors:
            raise NotFound(f"no subprocessor {subprocessor_id!r} in the data map")
        self._vocabulary.require_known(report, "report")  # a typo must not widen to every region
        return self._publish(actor, Action.DECLARE, subprocessor_id, report, note="")

    def act(
        self, actor: Actor, action: Action, incident_id: str, note: str = "", changes: dict[str, Any] | None = None
    ) -> IncidentReported:
        """confirm, dismiss, update or resolve: the incident's latest report with a new status and sequence."""
        actor.require(action)
        status = STATUS_OF[action]
        reports = self._ledger.incidents.reports_of(incident_id)
        if not reports:
            raise NotFound(f"no incident {incident_id!r} in the ledger")
        latest = max(reports, key=lambda r: (r.report.sequence, r.received_at))
        if latest.report.status in CLOSED and action is not Action.UPDATE:
            raise Conflict(f"incident {incident_id} is {latest.report.status.value}")
        fields = latest.report.model_dump(by_alias=True)
        fields.update(changes or {})
        fields.update(status=status.value, sequence=latest.report.sequence + 1)
        if note:
            fields["description"] = (fields.get("description") or "") + f"\n\n[{action.value} by {actor.name}] {note}"
        report = Report.model_validate(fields)  # raises ValidationError naming a bad field of ``changes``
        self._vocabulary.require_known(report, "changes")
        return self._publish(actor, action, latest.subprocessor_id, report, note)

    def approve(self, actor: Actor, notice_id: str, reason: str) -> dict[str, Any]:
        """Approve a held notice (recording who and why) and release it to the notifier."""
        actor.require(Action.APPROVE)
        if not reason.strip():
            raise ValueError("reason: an approval says why")
        held = self._ledger.release.held_request(notice_id)
        if held is None or held.release is not Release.APPROVE:
            raise NotFound(f"no notice {notice_id!r} awaits approval")
        state = self._ledger.delivery.notice_state(notice_id)
        if state is NoticeState.REJECTED:
            raise Conflict(f"notice {notice_id} was rejected")
        if state in (NoticeState.DELIVERED, NoticeState.DEAD):
            raise Conflict(f"notice {notice_id} is already settled")
        at = self._clock()
        first = self._ledger.release.approve(notice_id, by=actor.name, reason=reason, at=at)
        approval = self._ledger.release.approval(notice_id) or {}
        self._audit.append(
            f"approval:{notice_id}",
            "notice.approved",
            actor=actor.name,
            incident_id=held.incident_id,
            data={"notice_id": notice_id, "role": actor.role.value, "reason": approval.get("reason", reason)},
            at=approval.get("approved_at", at),
        )
        # released again on every call: an approval whose release failed (Kafka away) is released by a retry
        self._publisher.publish_notices([held])
        return {
            "notice_id": notice_id,
            "approved_by": approval.get("approved_by", actor.name),
            "reason": approval.get("reason", reason),
            "approved_at": approval.get("approved_at", at),
            "first": first,
        }

    def release(self, actor: Actor, incident_id: str, audience: str | None, reason: str) -> int:
        """Release an incident's held notices (all, or one audience's), recording who and why; returns how many
        were released. Releasing again releases nothing new and sends nothing twice."""
        actor.require(Action.RELEASE)
        if audience is not None and audience not in RELEASABLE:
            raise ValueError(f"audience: {audience!r} is not one of {', '.join(RELEASABLE)}")
        if not reason.strip():
            raise ValueError("reason: a release says why")
        if self._ledger.incidents.incident(incident_id) is None:
            raise NotFound(f"no incident {incident_id!r} in the ledger")
        at = self._clock()
        count, notices = self._ledger.release.release(
            incident_id, None if audience is None else Audience(audience), by=actor.name, reason=reason, at=at
        )
        if count:
            self._audit.append(
                f"release:{incident_id}:{uuid.uuid4().hex}",
                "notices.released",
                actor=actor.name,
                incident_id=incident_id,
                data={"role": actor.role.value, "audience": audience or "all", "released": count, "reason": reason},
                at=at,
            )
        # Also those released before and not attempted yet: a release whose publishing failed (Kafka away)
        # is completed by the next one. A copy the notifier already has is one notice, by its id.
        self._publisher.publish_notices(notices)
        return count

    def reject(self, actor: Actor, notice_id: str, reason: str) -> None:
        """Reject an authority notice that awaits approval, recording who and why: it is never sent."""
        actor.require(Action.REJECT)
        if not reason.strip():
            raise ValueError("reason: a rejection says why")
        held = self._ledger.release.held_request(notice_id)
        if held is None or held.release is not Release.APPROVE:
            raise NotFound(f"no notice {notice_id!r} awaits approval")
        at = self._clock()
        if not self._ledger.release.reject(notice_id, by=actor.name, reason=reason, at=at):
            if self._ledger.release.is_approved(notice_id):
                raise Conflict(f"notice {notice_id} was approved")
            state = self._ledger.delivery.notice_state(notice_id)
            raise Conflict(f"notice {notice_id} does not await approval: it is {state.value if state else 'unknown'}")
        self._audit.append(
            f"rejection:{notice_id}",
            "notice.rejected",
            actor=actor.name,
            incident_id=held.incident_id,
            data={"notice_id": notice_id, "role": actor.role.value, "reason": reason},
            at=at,
        )

    def _publish(
        self, actor: Actor, action: Action, subprocessor_id: str, report: Report, note: str
    ) -> IncidentReported:
        delivery_id = f"oncall_{uuid.uuid4().hex}"
        message = self._publisher.publish(subprocessor_id, Source.ONCALL, delivery_id, report)
        self._audit.append(
            f"oncall:{delivery_id}",
            f"oncall.{action.value}",
            actor=actor.name,
            incident_id=message.incident_id,
            data={"role": actor.role.value, "revision": message.revision, "note": note},
            at=message.received_at,
        )
        return message


__all__ = ["Conflict", "NotFound", "OncallActions", "UnknownNames", "ValidationError"]
