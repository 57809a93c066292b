"""Alerts to the on-call team: the one way assess, notify and the clock ask a person to look."""

from collections.abc import Sequence
from datetime import datetime

from runtime.notice_signing import NoticeSigner
from runtime.settings import OncallSettings
from schemas import Audience, Channel, Deadline, IncidentFacts, NoticeKind, NoticeRequested, notice_id

ONCALL_RECIPIENT = "oncall"


def oncall_alert(
    oncall: OncallSettings,
    signer: NoticeSigner,
    *,
    key: str,
    revision: str,
    facts: IncidentFacts,
    requested_at: datetime,
    references: Sequence[str] = (),
    deadlines: Sequence[Deadline] = (),
) -> NoticeRequested:
    """An email alert to on-call about ``facts.incident_id``. ``key`` names what the alert is about (one alert per
    key and revision, so a replayed cause never alerts twice); the alert's text travels in ``facts.description``.
    Signed, like every notice: the notifier sends nothing unsigned."""
    alert = NoticeRequested(
        notice_id=notice_id(facts.incident_id, f"{ONCALL_RECIPIENT}/{key}", Audience.ONCALL, Channel.EMAIL, revision),
        incident_id=facts.incident_id,
        revision=revision,
        recipient_id=ONCALL_RECIPIENT,
        recipient_name=oncall.name,
        audience=Audience.ONCALL,
        channel=Channel.EMAIL,
        kind=NoticeKind.ALERT,
        address=oncall.email,
        locale=oncall.locale,
        timezone=oncall.timezone,
        requested_at=requested_at,
        references=list(references),
        incident=facts,
        deadlines=list(deadlines),
    )
    return signer.sign(alert)
