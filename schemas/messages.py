"""The messages on breachwire's topics (see the topic table in ``runtime.topics``)."""

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Channel, LegalAudience, Message, NoticeAudience, NoticeKind, Release, ReportStatus, Source
from schemas.ids import IncidentId, NoticeId
from schemas.report import Report


class IncidentReported(Message):
    """``incidents.reported``, keyed by incident id: a report as it came in, and who it came from."""

    schema_version: Literal["breachwire.incident-reported/1"] = Field(
        default="breachwire.incident-reported/1", alias="schema"
    )
    incident_id: IncidentId
    subprocessor_id: str
    source: Source
    delivery_id: str = Field(description="The webhook-id (or another delivery id) the report came with.")
    received_at: AwareDatetime
    report: Report

    @property
    def revision(self) -> str:
        """Which report about the incident this is; part of every notice id it leads to."""
        return f"{self.report.status.value}.{self.report.sequence}"


class Deadline(Message):
    """One legal clock: who must tell whom under which law, and by when (UTC)."""

    jurisdiction: str
    audience: LegalAudience = Field(description="Whom the law says must be told, as the rules file names it.")
    due_at: AwareDatetime | None = Field(description="None when the clock has not started yet.")
    citation: str = ""
    notifiable: bool | None = Field(default=True, description="None when the facts to decide are not known.")
    obligation: str = Field(default="", description="The obligation's id in the jurisdiction's rules file.")
    waiting_for: Literal["determination"] | None = Field(
        default=None,
        description="Set while the clock runs from a determination not yet recorded: due_at is then the latest "
        "possible date, and the clock starts when the determination is recorded.",
    )


class IncidentFacts(Message):
    """What a notice says about the incident: the items GDPR Art. 33(3) asks for, when known."""

    incident_id: IncidentId
    subprocessor_id: str
    subprocessor_name: str
    status: ReportStatus
    sequence: int
    title: str
    description: str
    aware_at: AwareDatetime
    occurred_from: AwareDatetime | None = None
    occurred_until: AwareDatetime | None = None
    regions: list[str] = Field(default_factory=list)
    data_categories: list[str] = Field(default_factory=list)
    approx_data_subjects: int | None = None
    approx_records: int | None = None
    likely_consequences: str | None = None
    measures_taken: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None


class IncidentAssessed(Message):
    """``incidents.assessed``, keyed by incident id: one per affected customer and incident revision.

    A report that touches no customer is recorded as one assessment with an empty ``customer_id`` and
    ``no_one_affected`` set (and an on-call alert is requested).
    """

    schema_version: Literal["breachwire.incident-assessed/1"] = Field(
        default="breachwire.incident-assessed/1", alias="schema"
    )
    incident_id: IncidentId
    revision: str
    customer_id: str
    assessed_at: AwareDatetime
    jurisdictions: list[str] = Field(default_factory=list)
    data_categories: list[str] = Field(default_factory=list)
    affected_people: int | None = Field(
        default=None, description="Upper bound of the customer's people affected, the figure thresholds use."
    )
    audiences: list[NoticeAudience] = Field(default_factory=list, description="Who is told: controller, customer, ...")
    deadlines: list[Deadline] = Field(
        default_factory=list, description="Every clock: ours to the controller, and the controller's own."
    )
    notice_ids: list[NoticeId] = Field(default_factory=list)
    no_one_affected: bool = False


class NoticeRequested(Message):
    """``notices.requested``, keyed by recipient id: one notice to one recipient over one channel."""

    schema_version: Literal["breachwire.notice-requested/1"] = Field(
        default="breachwire.notice-requested/1", alias="schema"
    )
    notice_id: NoticeId
    incident_id: IncidentId
    revision: str
    recipient_id: str
    recipient_name: str
    audience: NoticeAudience
    channel: Channel
    kind: NoticeKind
    address: str = Field(description="Email address, webhook URL or phone number, by channel.")
    locale: str = "en"
    timezone: str = "UTC"
    requested_at: AwareDatetime
    release: Release = Field(default=Release.AUTO, description="auto, held until released, or approve first.")
    references: list[str] = Field(default_factory=list, description="Earlier notices this one follows.")
    incident: IncidentFacts
    deadlines: list[Deadline] = Field(default_factory=list)
    signature: str = Field(
        default="",
        description="v1=<hex HMAC-SHA256> over the fields that matter (ids, recipient, audience, channel, address, "
        "release, locale, kind, references, incident, deadlines) with signing.notice_key; the notifier sends "
        "nothing whose signature does not verify.",
    )


class NoticeSent(Message):
    """``notices.sent``, keyed by notice id: a notice delivered, with its receipt."""

    schema_version: Literal["breachwire.notice-sent/1"] = Field(default="breachwire.notice-sent/1", alias="schema")
    notice_id: NoticeId
    incident_id: IncidentId
    recipient_id: str
    audience: NoticeAudience
    channel: Channel
    locale: str
    attempts: int
    sent_at: AwareDatetime
    receipt: str = Field(description="The SMTP Message-ID, HTTP status or provider id that proves delivery.")


class NoticeDead(Message):
    """``notices.dead``, keyed by notice id: a notice that could not be delivered, and why."""

    schema_version: Literal["breachwire.notice-dead/1"] = Field(default="breachwire.notice-dead/1", alias="schema")
    notice_id: NoticeId
    incident_id: IncidentId
    recipient_id: str
    audience: NoticeAudience
    channel: Channel
    attempts: int
    failed_at: AwareDatetime
    reason: str
    request: NoticeRequested


class NoticeRetry(Message):
    """``notices.retry.<delay>``, keyed by recipient id: a notice waiting for its next attempt until ``due_at``.

    ``hop`` counts how often the notice was put on a retry topic; the ledger keeps the newest, and a copy with
    an older hop (left by a crash) is ignored.
    """

    schema_version: Literal["breachwire.notice-retry/1"] = Field(default="breachwire.notice-retry/1", alias="schema")
    notice_id: NoticeId
    attempts: int = Field(description="Delivery attempts made so far (waiting behind an earlier notice is none).")
    hop: int
    due_at: AwareDatetime
    reason: str
    request: NoticeRequested


class InvalidMessage(Message):
    """``messages.invalid``: a message a consumer could not parse, kept with the reason."""

    schema_version: Literal["breachwire.invalid-message/1"] = Field(
        default="breachwire.invalid-message/1", alias="schema"
    )
    topic: str
    partition: int
    offset: int
    consumer: str
    reason: str
    payload: str = Field(description="The message value, decoded as UTF-8 with replacement.")
    at: AwareDatetime
