"""What on-call staff read about an incident: the same view for ``incident show`` and ``GET /v1/oncall/...``."""

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel

from runtime.audit import AuditLog
from runtime.store import Ledger
from schemas import LegalAudience, NoticeAudience


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str
    detail: str


class NoticeSummary(BaseModel):
    notice_id: str
    audience: NoticeAudience
    channel: str
    recipient_id: str
    state: str


class LegalClock(BaseModel):
    customer_id: str
    jurisdiction: str
    audience: LegalAudience
    due_at: datetime | None
    seconds_left: int | None
    citation: str


class IncidentSummary(BaseModel):
    incident_id: str
    status: str
    title: str
    subprocessor_id: str
    source: str
    aware_at: datetime
    last_reported_at: datetime


class IncidentView(BaseModel):
    incident: IncidentSummary
    timeline: list[TimelineEntry]
    customers_by_jurisdiction: dict[str, list[str]]
    notices: list[NoticeSummary]
    clocks: list[LegalClock]


def incident_list(ledger: Ledger) -> list[IncidentSummary]:
    """Every incident, newest first."""
    return [IncidentSummary.model_validate(row) for row in ledger.incidents.incident_list()]


def incident_view(ledger: Ledger, incident_id: str, now: datetime) -> IncidentView | None:
    """Timeline, affected customers by jurisdiction, each notice's state and each legal clock with time left."""
    incident = ledger.incidents.incident(incident_id)
    if incident is None:
        return None
    timeline = [
        TimelineEntry(
            at=entry.at,
            kind=entry.kind,
            actor=entry.actor,
            detail=str(entry.data.get("revision") or entry.data.get("notice_id") or ""),
        )
        for entry in AuditLog(ledger).entries(incident_id)
    ]
    # In order: the last assessment of each customer stands.
    latest = {a.customer_id: a for a in ledger.incidents.assessments_of(incident_id) if a.customer_id}
    by_jurisdiction: dict[str, list[str]] = defaultdict(list)
    clocks: list[LegalClock] = []
    for customer, assessment in sorted(latest.items()):
        for jurisdiction in assessment.jurisdictions or ["(none)"]:
            by_jurisdiction[jurisdiction].append(customer)
        clocks += [
            LegalClock(
                customer_id=customer,
                jurisdiction=d.jurisdiction,
                audience=d.audience,
                due_at=d.due_at,
                seconds_left=None if d.due_at is None else int((d.due_at - now).total_seconds()),
                citation=d.citation,
            )
            for d in assessment.deadlines
        ]
    return IncidentView(
        incident=IncidentSummary.model_validate(incident),
        timeline=timeline,
        customers_by_jurisdiction=dict(sorted(by_jurisdiction.items())),
        notices=[
            NoticeSummary(
                notice_id=n.notice_id,
                audience=n.audience,
                channel=n.channel,
                recipient_id=n.recipient_id,
                state=n.state,
            )
            for n in ledger.delivery.notices(incident_id)
        ],
        clocks=clocks,
    )
