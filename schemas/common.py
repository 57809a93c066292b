"""Vocabulary shared by the messages, and the base every message model stands on."""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict


class ReportStatus(StrEnum):
    """Where an incident stands, as its reporter says."""

    SUSPECTED = "suspected"
    CONFIRMED = "confirmed"
    UPDATE = "update"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Source(StrEnum):
    """Which way in a report came."""

    SUBPROCESSOR = "subprocessor"
    MONITOR = "monitor"
    ONCALL = "oncall"


class Audience(StrEnum):
    """Who is told of a breach: one vocabulary for the rules files, the messages, the ledger and the templates.

    Two sets of it are in use. A duty to notify (an obligation in ``rules/*.toml``, a ``Deadline``) names whom the
    law says must be told: :data:`LegalAudience`. A notice (``NoticeRequested``, a ``templates/<audience>/``
    folder) names whom we send it to: :data:`NoticeAudience`. :data:`NOTICE_AUDIENCE_FOR` says which notices
    answer which duty.
    """

    CONTROLLER = "controller"  # our customer as controller: the processor's duty to it (GDPR Art. 33(2))
    CUSTOMER = "customer"  # our customer's account admins: a short operational alert
    AUTHORITY = "authority"  # a supervisory authority or regulator
    ONCALL = "oncall"  # our own on-call responders
    DATA_SUBJECTS = "data_subjects"  # the people whose data it is (residents, patients, ...)
    CONSUMER_REPORTING_AGENCIES = "consumer_reporting_agencies"  # US state laws, above a number of residents
    MEDIA = "media"  # prominent media outlets (HIPAA 164.406, ...)


LegalAudience = Literal[
    Audience.CONTROLLER,
    Audience.AUTHORITY,
    Audience.DATA_SUBJECTS,
    Audience.CONSUMER_REPORTING_AGENCIES,
    Audience.MEDIA,
]
"""Whom a law says must be told: a rules file's ``audience``, ``Deadline.audience``."""

NoticeAudience = Literal[Audience.CONTROLLER, Audience.CUSTOMER, Audience.AUTHORITY, Audience.ONCALL]
"""Whom a notice goes to: ``NoticeRequested.audience``, one ``templates/<audience>/`` folder each."""

LEGAL_AUDIENCES: tuple[LegalAudience, ...] = get_args(LegalAudience)
NOTICE_AUDIENCES: tuple[NoticeAudience, ...] = get_args(NoticeAudience)

NOTICE_AUDIENCE_FOR: Mapping[Audience, NoticeAudience] = MappingProxyType(
    {
        Audience.CONTROLLER: Audience.CONTROLLER,  # our formal notice to the controller
        Audience.AUTHORITY: Audience.AUTHORITY,  # the report we file for the controller, where its contract says so
        # The controller tells its data subjects; our part is the alert to its admins (the customer's channel).
        Audience.DATA_SUBJECTS: Audience.CUSTOMER,
    }
)
"""The audience of the notices that answer a duty (a clock is met once one is delivered). The controller's duties
to consumer reporting agencies and the media are its own: no notice of ours answers them."""


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    SMS = "sms"


class Release(StrEnum):
    """How a notice goes out, as the release policy (``rules/release.toml``) decided it."""

    AUTO = "auto"  # at once
    HELD = "held"  # once an on-call responder releases it
    APPROVE = "approve"  # once an approver approves it (authority reports, always)


class NoticeKind(StrEnum):
    """What a notice is in the incident's story (GDPR Art. 33(4) lets facts follow in phases)."""

    PRELIMINARY = "preliminary"
    FULL = "full"
    FOLLOW_UP = "follow-up"
    CLOSING = "closing"
    ALERT = "alert"


class Message(BaseModel):
    """Base of every model on the wire: unknown fields are refused, the ``schema`` alias is used in JSON."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self)
