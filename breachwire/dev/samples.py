"""Sample notices: what ``breachwire notices preview`` shows, and what the template tests render.

The default sample is realistic on purpose: a confirmed breach reported by Linode's EU location, told to
the data map's first EU customer. A report file (a ``schemas.Report`` as a subprocessor posts it) can stand
in for the sample report; then the notice goes to the first customer it touches, as the assessor decides.
Times are fixed, so that a rendered sample is the same on every run.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consumers.assess.assessment import Assessor
from consumers.assess.impact import affected_customers, data_categories
from consumers.assess.notices import KIND_BY_STATUS, incident_facts
from consumers.assess.rules import RuleBook
from runtime.datamap import Customer, DataMap
from schemas import (
    Audience,
    Channel,
    Contact,
    IncidentReported,
    NoticeKind,
    NoticeRequested,
    Release,
    Report,
    ReportStatus,
    Source,
    incident_id,
    notice_id,
)

SAMPLE_SUBPROCESSOR = "linode-eu"

SAMPLE_REGION = "eu"
AWARE_AT = datetime(2026, 11, 3, 8, 40, tzinfo=UTC)

# Which report status a kind of notice follows, and which report in the incident's story it is.
STATUS_BY_KIND = {
    NoticeKind.PRELIMINARY: (ReportStatus.SUSPECTED, 1),
    NoticeKind.FULL: (ReportStatus.CONFIRMED, 2),
    NoticeKind.FOLLOW_UP: (ReportStatus.UPDATE, 3),
    NoticeKind.CLOSING: (ReportStatus.RESOLVED, 4),
    NoticeKind.ALERT: (ReportStatus.CONFIRMED, 2),
}


@dataclass(frozen=True)
class Recipient:
    """Who a sample notice goes to, when it is not a customer of the data map."""

    id: str
    name: str
    address: dict[Channel, str]
    locale: str
    timezone: str
    jurisdiction: str


# A supervisory authority per locale (authority reports), and the processor's own on-call team.
AUTHORITIES = {
    "en": Recipient(
        "authority:eu-gdpr",
        "Competent supervisory authority (Art. 55; lead supervisory authority under Art. 56)",  # as the rules name it
        {Channel.EMAIL: "breach-reports@dpa.example", Channel.WEBHOOK: "https://dpa.example/hooks/breach"},
        "en",
        "Europe/Berlin",
        "eu-gdpr",
    ),
    "sk": Recipient(
        "authority:sk-uoou",
        "Úrad na ochranu osobných údajov Slovenskej republiky",
        {Channel.EMAIL: "porusenia@uoou.example", Channel.WEBHOOK: "https://uoou.example/hooks/porusenia"},
        "sk",
        "Europe/Bratislava",
        "eu-gdpr",
    ),
    "fil": Recipient(
        "authority:ph-npc",
        "National Privacy Commission (NPC)",
        {Channel.EMAIL: "breach@npc.example", Channel.WEBHOOK: "https://npc.example/hooks/breach"},
        "fil",
        "Asia/Manila",
        "ph-dpa",
    ),
}
ONCALL = Recipient(
    "oncall:incident-response",
    "Incident response on-call",
    {
        Channel.EMAIL: "oncall@processor.example",
        Channel.WEBHOOK: "https://pager.processor.example/hooks/breachwire",
        Channel.SMS: "+15550009999",
    },
    "en",
    "Europe/Bratislava",
    "eu-gdpr",
)


def sample_report(kind: NoticeKind = NoticeKind.FULL, *, known: bool = True) -> Report:
    """Linode (EU location) reports a breach; ``known=False`` leaves every fact that may be unknown empty."""
    status, sequence = STATUS_BY_KIND[kind]
    base = Report(
        reference="LIN-EU-2026-1103",
        status=status,
        sequence=sequence,
        title="Unauthorised access to a block-storage volume in the Frankfurt data centre",
        aware_at=AWARE_AT,
        regions=[SAMPLE_REGION],
    )
    if not known:
        return base
    return base.model_copy(
        update={
            "description": (
                "An attacker used a leaked API token of a Linode support engineer to attach a snapshot of one "
                "block-storage volume to a server outside Linode's network. The volume held part of the helpdesk "
                "database of EU customers. The token was revoked 45 minutes after the first access."
            ),
            "occurred_from": AWARE_AT - timedelta(hours=9, minutes=30),
            "occurred_until": AWARE_AT - timedelta(minutes=45),
            "data_categories": ["contact_details", "chat_transcripts", "tickets"],
            "approx_data_subjects": 18_400,
            "approx_records": 252_000,
            "likely_consequences": (
                "Names, email addresses and support conversations may have been read: a risk of targeted "
                "phishing, and of disclosure of whatever end users wrote in their tickets. No passwords or "
                "payment data were on the volume."
            ),
            "measures_taken": (
                "The token was revoked and every support-engineer token rotated; the copied snapshot was "
                "deleted; access logs are being reviewed with Linode. Proposed: encrypting ticket bodies at "
                "field level."
            ),
            "contact": Contact(
                name="Linode Security Incident Response",
                email="security-incidents@linode.example",
                phone="+1 555 010 0200",
            ),
        }
    )


def first_eu_customer(datamap: DataMap) -> Customer:
    customers = datamap.in_region(SAMPLE_REGION)
    if not customers:
        raise LookupError(f"the data map has no customer in region {SAMPLE_REGION!r}")
    return customers[0]


def notice_from_report(
    report: Report,
    datamap: DataMap,
    audience: Audience,
    channel: Channel,
    *,
    rules: RuleBook,
    subprocessor_id: str = SAMPLE_SUBPROCESSOR,
    locale: str | None = None,
    kind: NoticeKind | None = None,
    customer: Customer | None = None,
    description: str | None = None,
) -> NoticeRequested:
    """The notice a report leads to for one audience and channel, built as the assessor builds it, with the
    clocks ``rules`` start: a controller notice carries the controller's own, an authority report its filing's,
    an on-call alert the clock it is about (ours to the controller), a customer alert none.

    The recipient is ``customer``, else the first customer the report touches, else the first EU customer
    (controller and customer notices); the authority of the locale (authority reports); or the on-call team.
    ``description`` replaces the incident's description (on-call alerts carry their own text there).
    """
    subprocessor = datamap.subprocessors.get(subprocessor_id)
    if subprocessor is None:
        raise LookupError(f"no subprocessor {subprocessor_id!r} in the data map")
    inc = incident_id(subprocessor.id, report.reference)
    reported = IncidentReported(
        incident_id=inc,
        subprocessor_id=subprocessor.id,
        source=Source.SUBPROCESSOR,
        delivery_id=f"msg_{report.reference}",
        received_at=report.aware_at + timedelta(minutes=20),
        report=report,
    )
    facts = incident_facts(reported, subprocessor, data_categories(report, subprocessor))
    if description is not None:
        facts = facts.model_copy(update={"description": description})
    kind = kind or (NoticeKind.ALERT if audience is Audience.ONCALL else KIND_BY_STATUS[report.status])
    assessor = Assessor(rules, report)

    if audience in (Audience.CONTROLLER, Audience.CUSTOMER):
        if customer is None:
            touched = affected_customers(report, subprocessor, datamap)
            customer = touched[0] if touched else first_eu_customer(datamap)
        recipient_id, name, zone = customer.id, customer.name, customer.timezone
        locale = locale or customer.locale
        address = {
            Channel.EMAIL: customer.privacy_email if audience is Audience.CONTROLLER else None,
            Channel.WEBHOOK: customer.webhook_url,
            Channel.SMS: customer.sms,
        }.get(channel) or (customer.admin_emails[0] if customer.admin_emails else "admin@customer.example")
        controller = audience is Audience.CONTROLLER
        deadlines = assessor.assess(customer).controller_clocks if controller else []
    else:
        recipient = ONCALL if audience is Audience.ONCALL else AUTHORITIES.get(locale or "en", AUTHORITIES["en"])
        recipient_id, name, zone = recipient.id, recipient.name, recipient.timezone
        locale = locale or recipient.locale
        address = recipient.address.get(channel, "+15550009999")
        clocks = assessor.clocks([rules[recipient.jurisdiction]], report.approx_data_subjects)
        wanted = Audience.CONTROLLER if audience is Audience.ONCALL else Audience.AUTHORITY
        deadlines = [d for d in clocks if d.audience == wanted]

    # Later notices in the story point back at the earlier ones (GDPR Art. 33(4): facts follow in phases).
    kinds = list(STATUS_BY_KIND)[:4]
    earlier = kinds[: kinds.index(kind)] if kind in kinds else []
    references = [
        notice_id(inc, recipient_id, audience, channel, f"{STATUS_BY_KIND[k][0].value}.{STATUS_BY_KIND[k][1]}")
        for k in earlier
    ]
    requested_at = report.aware_at + (timedelta(hours=20) if audience is Audience.ONCALL else timedelta(hours=2))
    return NoticeRequested(
        notice_id=notice_id(inc, recipient_id, audience, channel, reported.revision),
        incident_id=inc,
        revision=reported.revision,
        recipient_id=recipient_id,
        recipient_name=name,
        audience=audience,
        channel=channel,
        kind=kind,
        address=address,
        locale=locale,
        timezone=zone,
        requested_at=requested_at,
        release=Release.APPROVE if audience is Audience.AUTHORITY else Release.AUTO,
        references=references,
        incident=facts,
        deadlines=deadlines,
    )


ONCALL_DESCRIPTION = (
    "The notice to the privacy contact of {customer} (email) is not delivered yet: 4 attempts, last answer "
    "SMTP 451 (mailbox busy). 83% of the 24-hour contractual time to tell the controller is used."
)


def sample_notice(
    datamap: DataMap,
    audience: Audience,
    channel: Channel,
    *,
    rules: RuleBook,
    locale: str | None = None,
    kind: NoticeKind | None = None,
    known: bool = True,
) -> NoticeRequested:
    """The sample: Linode EU's report, to the first EU customer (or the authority, or on-call)."""
    if kind is None:
        kind = NoticeKind.ALERT if audience is Audience.ONCALL else NoticeKind.FULL
    customer = first_eu_customer(datamap)
    description = ONCALL_DESCRIPTION.format(customer=customer.name) if audience is Audience.ONCALL else None
    return notice_from_report(
        sample_report(kind, known=known),
        datamap,
        audience,
        channel,
        rules=rules,
        locale=locale,
        kind=kind,
        customer=customer,
        description=description,
    )


def controller_notices(datamap: DataMap, rules: RuleBook, channel: Channel, count: int) -> list[NoticeRequested]:
    """``count`` controller notices of the sample follow-up report on ``channel``, round the customers with an
    address there, each its own revision and so its own notice id: a load for the tests and the benchmarks."""

    def has_address(c: Customer) -> bool:
        return {Channel.EMAIL: c.privacy_email, Channel.WEBHOOK: c.webhook_url, Channel.SMS: c.sms}[channel] is not None

    customers = sorted((c for c in datamap.customers.values() if has_address(c)), key=lambda c: c.id)
    report = sample_report(NoticeKind.FOLLOW_UP)
    # Built once per customer: the incident behind them is the same.
    bases = [
        notice_from_report(report, datamap, Audience.CONTROLLER, channel, rules=rules, customer=c)
        for c in customers[:count]
    ]
    notices = []
    for i in range(count):
        base = bases[i % len(bases)]
        revision = f"update.{i + 2}"
        nid = notice_id(base.incident_id, base.recipient_id, Audience.CONTROLLER.value, channel.value, revision)
        notices.append(base.model_copy(update={"revision": revision, "notice_id": nid}))
    return notices
