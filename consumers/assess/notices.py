"""The notices an assessment asks for: one per recipient, audience and channel, with deterministic ids."""

from datetime import datetime

from runtime.datamap import Customer, Subprocessor
from schemas import (
    Audience,
    Channel,
    Deadline,
    IncidentFacts,
    IncidentReported,
    NoticeKind,
    NoticeRequested,
    ReportStatus,
    notice_id,
)

KIND_BY_STATUS = {
    ReportStatus.SUSPECTED: NoticeKind.PRELIMINARY,
    ReportStatus.CONFIRMED: NoticeKind.FULL,
    ReportStatus.UPDATE: NoticeKind.FOLLOW_UP,
    ReportStatus.RESOLVED: NoticeKind.CLOSING,
    ReportStatus.DISMISSED: NoticeKind.CLOSING,
}


def incident_facts(reported: IncidentReported, subprocessor: Subprocessor, categories: list[str]) -> IncidentFacts:
    report = reported.report
    contact = report.contact
    return IncidentFacts(
        incident_id=reported.incident_id,
        subprocessor_id=subprocessor.id,
        subprocessor_name=subprocessor.name,
        status=report.status,
        sequence=report.sequence,
        title=report.title,
        description=report.description,
        aware_at=report.aware_at,
        occurred_from=report.occurred_from,
        occurred_until=report.occurred_until,
        regions=list(report.regions),
        data_categories=categories,
        approx_data_subjects=report.approx_data_subjects,
        approx_records=report.approx_records,
        likely_consequences=report.likely_consequences,
        measures_taken=report.measures_taken,
        contact_name=contact.name if contact else None,
        contact_email=contact.email if contact else None,
        contact_phone=contact.phone if contact else None,
    )


def controller_channels(customer: Customer) -> list[tuple[Channel, str]]:
    """Where a controller's formal notice goes: its privacy contact by email, and its webhook."""
    channels: list[tuple[Channel, str]] = []
    if customer.privacy_email:
        channels.append((Channel.EMAIL, customer.privacy_email))
    elif customer.admin_emails:
        channels.append((Channel.EMAIL, customer.admin_emails[0]))
    if customer.webhook_url:
        channels.append((Channel.WEBHOOK, customer.webhook_url))
    return channels


def controller_notices(
    reported: IncidentReported,
    customer: Customer,
    facts: IncidentFacts,
    deadlines: list[Deadline],
    now: datetime,
) -> list[NoticeRequested]:
    return [
        NoticeRequested(
            notice_id=notice_id(reported.incident_id, customer.id, Audience.CONTROLLER, channel, reported.revision),
            incident_id=reported.incident_id,
            revision=reported.revision,
            recipient_id=customer.id,
            recipient_name=customer.name,
            audience=Audience.CONTROLLER,
            channel=channel,
            kind=KIND_BY_STATUS[reported.report.status],
            address=address,
            locale=customer.locale,
            timezone=customer.timezone,
            requested_at=now,
            incident=facts,
            deadlines=deadlines,
        )
        for channel, address in controller_channels(customer)
    ]
