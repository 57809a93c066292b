"""The notices an assessment asks for: one per recipient, audience and channel, with deterministic ids.

- controller: the formal notice (Art. 33(2)) to the privacy contact (else the first admin) and to the webhook,
  carrying the controller's own clocks; preliminary / full / follow-up / closing by the report's status;
- customer: a short operational alert to every account admin by email, and by SMS where the customer has a number;
- authority: only where the processor itself files. The rules make every authority duty the controller's (the
  processor's duty is to tell the controller), so the processor files only where the contract says so
  (``authority_filing`` in the data map), for each of that customer's authority obligations the facts do not rule
  out, for confirmed, update and resolved reports (a suspicion is not filed, a dismissed one never was). These
  are requested with release ``approve``: the notifier holds them until an approver approves;
- oncall: an alert when a report reaches no one, when it names regions, features or data categories that
  matched nothing, and when the release policy gives a report to on-call only.

Every notice carries its release mode, from the release policy (``consumers.assess.release``) for the report's
source and status: ``auto``, ``held`` until an on-call responder releases it, or ``approve``. An audience the
policy gives to on-call only gets no notice at all.
"""

from datetime import datetime

from pydantic_core import to_json

from consumers.assess.assessment import CustomerAssessment
from consumers.assess.history import references_for
from consumers.assess.release import Modes
from consumers.assess.rules import Jurisdiction, Obligation
from runtime.datamap import Customer, Subprocessor
from runtime.notice_signing import NoticeSigner, join
from runtime.notice_signing import head as signed_head
from runtime.oncall import oncall_alert
from runtime.settings import OncallSettings
from schemas import (
    Audience,
    Channel,
    Deadline,
    IncidentFacts,
    IncidentReported,
    NoticeKind,
    NoticeRequested,
    Release,
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


EMPTY_JSON = to_json([])

# Statuses for which an authority report is prepared (see the module docstring).
AUTHORITY_STATUSES = frozenset({ReportStatus.CONFIRMED, ReportStatus.UPDATE, ReportStatus.RESOLVED})


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


def customer_channels(customer: Customer) -> list[tuple[Channel, str]]:
    """Where an operational alert goes: every account admin by email, and the SMS number if the customer has one."""
    channels = [(Channel.EMAIL, address) for address in customer.admin_emails]
    if customer.sms:
        channels.append((Channel.SMS, customer.sms))
    return channels


def recipient_key(customer_id: str, audience: Audience, channel: Channel, address: str) -> str:
    """The recipient part of a notice id: the customer, or one of its admins (several share a channel)."""
    if audience is Audience.CUSTOMER and channel is Channel.EMAIL:
        return f"{customer_id}/{address}"
    return customer_id


UNKNOWN_NAMES = (
    "This report names {names}: they matched no customer, and the report was not widened to cover them. The "
    "customers it does reach were assessed. Check the report with its reporter, and the data map, then update "
    "the incident if more customers are affected."
)

ONCALL_ONLY = (
    "By the release policy ({source}, {status}), this report reaches on-call only: no notice goes to {audiences} "
    "of the {customers} affected customer(s). A responder decides: confirm it (`breachwire incident confirm "
    "{incident}`), update or resolve it (those reports go out under the on-call policy), or dismiss it."
)

NO_ONE_AFFECTED = (
    "This report touches no customer in the data map ({reason}). Check the report's regions, features, "
    "customer accounts and window against the data map, and whether the data map is current."
)


class NoticeBuilder:
    """The notices of one report revision; ids are deterministic, references point at earlier revisions."""

    def __init__(
        self,
        reported: IncidentReported,
        facts: IncidentFacts,
        now: datetime,
        earlier: list[tuple[str, frozenset[str]]] | None = None,
        modes: Modes | None = None,
        *,
        signer: NoticeSigner,
    ) -> None:
        """``modes``: how the release policy lets this report's notices go (all ``auto`` when not given);
        ``signer`` signs every notice (the notifier sends nothing unsigned)."""
        self._signer = signer
        self._reported = reported
        self._modes = modes or Modes(controller="auto", customer="auto")
        self._facts = facts
        self._now = now
        self._earlier = earlier or []
        self._kind = KIND_BY_STATUS[reported.report.status]
        self._revision = reported.revision
        # The fields every notice of this revision shares; the recipient's are placeholders until replaced.
        self._prototype = NoticeRequested(
            notice_id="ntc_placeholder",
            incident_id=reported.incident_id,
            revision=self._revision,
            recipient_id="",
            recipient_name="",
            audience=Audience.CONTROLLER,
            channel=Channel.EMAIL,
            kind=self._kind,
            address="",
            requested_at=now,
            incident=facts,
        )
        # Signing encodes the facts and each deadlines list once per revision, not per notice: customers alike
        # share one list of clocks, an authority report one list per clock. Keyed by identity, holding the list.
        self._facts_json = to_json(facts)
        self._deadlines_json: dict[int, tuple[list[Deadline], bytes]] = {}
        self._alone: dict[int, tuple[Deadline, list[Deadline]]] = {}

    def for_customer(self, assessment: CustomerAssessment, oncall_email: str) -> list[NoticeRequested]:
        """Controller notices, customer alerts and (held for approval) authority reports, as the policy lets them."""
        customer = assessment.customer
        clocks = assessment.controller_clocks
        notices: list[NoticeRequested] = []
        release = self._modes.release(Audience.CONTROLLER)
        if release is not None:
            notices += [
                self._notice(customer, Audience.CONTROLLER, channel, address, clocks, release)
                for channel, address in controller_channels(customer)
            ]
        # An operational alert is short: the legal clocks are the controller's, in the controller notice.
        release = self._modes.release(Audience.CUSTOMER)
        if release is not None:
            notices += [
                self._notice(customer, Audience.CUSTOMER, channel, address, [], release)
                for channel, address in customer_channels(customer)
            ]
        if self._reported.report.status in AUTHORITY_STATUSES:
            notices += [
                self._authority(customer, jurisdiction, obligation, deadline, oncall_email)
                for jurisdiction, obligation, deadline in assessment.authority_filings
            ]
        return notices

    def oncall_alert(self, oncall: OncallSettings, reason: str) -> NoticeRequested:
        """Tells on-call that a report reached no one: a wrong map or a wrong report both need a person."""
        alert = NO_ONE_AFFECTED.format(reason=reason)
        facts = self._facts.model_copy(update={"description": f"{alert}\n\n{self._facts.description}".strip()})
        return oncall_alert(
            oncall,
            self._signer,
            key="no-one-affected",
            revision=self._reported.revision,
            facts=facts,
            requested_at=self._now,
        )

    def unknown_names_alert(self, oncall: OncallSettings, names: str) -> NoticeRequested:
        """Tells on-call that a report names regions, features or data categories that matched nothing."""
        alert = UNKNOWN_NAMES.format(names=names)
        facts = self._facts.model_copy(update={"description": f"{alert}\n\n{self._facts.description}".strip()})
        return oncall_alert(
            oncall,
            self._signer,
            key="unknown-names",
            revision=self._reported.revision,
            facts=facts,
            requested_at=self._now,
        )

    def policy_alert(self, oncall: OncallSettings, customers: int) -> NoticeRequested | None:
        """Tells on-call of a report the policy gives to on-call only (for some audience); None when it does not."""
        withheld = self._modes.oncall_only
        if not withheld:
            return None
        reported = self._reported
        alert = ONCALL_ONLY.format(
            source=reported.source.value,
            status=reported.report.status.value,
            audiences=" or ".join(f"{a.value}s" for a in withheld),
            customers=customers,
            incident=reported.incident_id,
        )
        facts = self._facts.model_copy(update={"description": f"{alert}\n\n{self._facts.description}".strip()})
        return oncall_alert(
            oncall, self._signer, key="policy", revision=reported.revision, facts=facts, requested_at=self._now
        )

    def _notice(
        self,
        customer: Customer,
        audience: Audience,
        channel: Channel,
        address: str,
        deadlines: list[Deadline],
        release: Release,
    ) -> NoticeRequested:
        key = recipient_key(customer.id, audience, channel, address)
        return self._from_prototype(
            notice_id=notice_id(self._reported.incident_id, key, audience, channel, self._revision),
            recipient_id=customer.id,
            recipient_name=customer.name,
            audience=audience,
            channel=channel,
            address=address,
            locale=customer.locale,
            timezone=customer.timezone,
            release=release,
            references=self._references(customer.id, key, audience, channel),
            deadlines=deadlines,
        )

    def _authority(
        self,
        customer: Customer,
        jurisdiction: Jurisdiction,
        obligation: Obligation,
        deadline: Deadline,
        oncall_email: str,
    ) -> NoticeRequested:
        authority = obligation.authority
        assert authority is not None  # the rules model requires one for every authority obligation
        key = f"{customer.id}/{jurisdiction.id}/{obligation.id}"
        return self._from_prototype(
            notice_id=notice_id(self._reported.incident_id, key, Audience.AUTHORITY, Channel.EMAIL, self._revision),
            recipient_id=customer.id,
            recipient_name=authority.name,
            audience=Audience.AUTHORITY,
            channel=Channel.EMAIL,
            # An authority reached by portal or form gets the approved report through on-call, who files it.
            address=authority.email or oncall_email,
            locale="en",
            timezone=jurisdiction.timezone,
            release=Release.APPROVE,  # always: the policy's loader refuses anything else for authorities
            references=self._references(customer.id, key, Audience.AUTHORITY, Channel.EMAIL),
            deadlines=self._one_clock(deadline),
        )

    def _from_prototype(
        self,
        *,
        notice_id: str,
        recipient_id: str,
        recipient_name: str,
        audience: Audience,
        channel: Channel,
        address: str,
        locale: str,
        timezone: str,
        release: Release,
        references: list[str],
        deadlines: list[Deadline],
    ) -> NoticeRequested:
        """A notice of this revision: the prototype with every per-recipient field replaced.

        Copying skips validation, which costs more than the rest of a notice: the shared fields were validated
        in the prototype, the recipient's come from the validated data map and rules (and
        ``tests/unit/test_assess.py`` checks that each notice built so validates to itself). Signed from the same
        values before the one copy: the bytes are ``canonical``'s, and the notifier verifies them as such.
        """
        fields = signed_head(
            notice_id=notice_id,
            incident_id=self._reported.incident_id,
            revision=self._revision,
            recipient_id=recipient_id,
            audience=audience,
            channel=channel,
            address=address,
            release=release,
            locale=locale,
            kind=self._kind,
            references=references,
        )
        signature = self._signer.signature_of(join(fields, self._facts_json, self._deadlines_bytes(deadlines)))
        return self._prototype.model_copy(
            update={
                "notice_id": notice_id,
                "recipient_id": recipient_id,
                "recipient_name": recipient_name,
                "audience": audience,
                "channel": channel,
                "address": address,
                "locale": locale,
                "timezone": timezone,
                "release": release,
                "references": references,
                "deadlines": deadlines,
                "signature": signature,
            }
        )

    def _one_clock(self, deadline: Deadline) -> list[Deadline]:
        known = self._alone.get(id(deadline))
        if known is not None and known[0] is deadline:
            return known[1]
        alone = [deadline]
        self._alone[id(deadline)] = (deadline, alone)
        return alone

    def _deadlines_bytes(self, deadlines: list[Deadline]) -> bytes:
        if not deadlines:
            return EMPTY_JSON  # an alert's: a new empty list each time
        known = self._deadlines_json.get(id(deadlines))
        if known is not None and known[0] is deadlines:
            return known[1]
        encoded = to_json(deadlines)
        self._deadlines_json[id(deadlines)] = (deadlines, encoded)
        return encoded

    def _references(self, customer_id: str, key: str, audience: Audience, channel: Channel) -> list[str]:
        if not self._earlier:
            return []
        incident = self._reported.incident_id
        return references_for(
            self._earlier, customer_id, lambda revision: notice_id(incident, key, audience, channel, revision)
        )
