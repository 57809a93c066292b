"""Vocabulary shared by the messages, and the base every message model stands on."""

from enum import StrEnum

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
    CONTROLLER = "controller"
    CUSTOMER = "customer"
    AUTHORITY = "authority"
    ONCALL = "oncall"


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
