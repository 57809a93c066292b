"""The data map's records: subprocessors and customers, validated as they are read."""

import base64
import sys
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

# A million customers repeat a few regions, countries, zones and features: one shared string each saves memory.
Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$"), AfterValidator(sys.intern)]
Upper2 = Annotated[str, Field(pattern=r"^[A-Z]{2}$"), AfterValidator(sys.intern)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]


def _signing_key(secret: SecretStr) -> SecretStr:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 24 to 64 random bytes, as the specification asks.

    An empty or garbled secret (``""``, ``whsec_``, ``whsec_!!!!``) would decode to an empty HMAC key, with which
    anyone can sign; the message never repeats the secret.
    """
    text = secret.get_secret_value().removeprefix("whsec_")
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("is not whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"decodes to {len(key)} bytes; a webhook secret is 24 to 64 random bytes")
    return secret


WebhookSecret = Annotated[SecretStr, AfterValidator(_signing_key)]


@cache
def _is_zone(name: str) -> bool:
    # Cached: loading a map checks the same few zones a million times.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def _is_locale(name: str) -> bool:
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return False
    return True


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def compact(record: BaseModel) -> None:
    """Share the record's set of given field names with every record that gave the same fields.

    Pydantic keeps one such set per instance (~700 bytes; most of a customer's footprint at a million
    customers). The records are frozen and ``model_copy`` copies the set before changing it, so sharing is safe.
    """
    given = record.__pydantic_fields_set__
    shared = _FIELDS_SETS.setdefault(frozenset(given), given)
    object.__setattr__(record, "__pydantic_fields_set__", shared)


class SubprocessorKind(StrEnum):
    """The three kinds the source document names."""

    INFRASTRUCTURE = "infrastructure"  # hosts Service Data in regions
    SERVICE = "service"  # provides features, touches the data those features hold
    SUBCONTRACTOR = "subcontractor"  # support staff: data only with the customer's prior permission


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subprocessor(_Record):
    id: Code
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: SubprocessorKind
    regions: list[Code] = Field(default_factory=list, description="Regions it hosts (infrastructure).")
    features: list[Code] = Field(default_factory=list, description="Product features it serves (service).")
    data_categories: list[Code] = Field(default_factory=list)
    webhook_secrets: list[WebhookSecret] = Field(
        default_factory=list,
        description="Active Standard Webhooks secrets (whsec_…); several while rotating.",
    )

    @model_validator(mode="after")
    def _kind_fits(self) -> "Subprocessor":
        if self.kind is SubprocessorKind.INFRASTRUCTURE and not self.regions:
            raise ValueError("an infrastructure subprocessor names the regions it hosts")
        return self


class AccessGrant(_Record):
    """A customer's prior permission for a subcontractor to access its Service Data, for a window."""

    subcontractor: Code
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None

    @field_validator("valid_until")
    @classmethod
    def _ends_after_start(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("valid_from")
        if until is not None and start is not None and until < start:
            raise ValueError(f"the grant ends ({until.isoformat()}) before it starts ({start.isoformat()})")
        return until

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        """True when the grant was in force at some instant of [start, end] (end None: still going)."""
        starts_before_end = end is None or self.valid_from <= end
        ends_after_start = self.valid_until is None or self.valid_until >= start
        return starts_before_end and ends_after_start


class Customer(_Record):
    """A customer organisation: the controller of its data subjects' Personal Data."""

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    region: Code
    country: Upper2
    state: Upper2 | None = None
    timezone: str = "UTC"
    locale: str = "en"
    features: list[Code] = Field(default_factory=list)
    data_subjects: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Approximate number of the customer's data subjects; None when not known."
    )
    covered_entity: bool = Field(default=False, description="A HIPAA covered entity.")
    authority_filing: bool = Field(
        default=False,
        description="The contract has the processor file the authority reports on this controller's behalf.",
    )
    privacy_email: Email | None = Field(default=None, description="Privacy contact / DPO: formal notices.")
    admin_emails: list[Email] = Field(default_factory=list, description="Account admins: operational alerts.")
    webhook_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    webhook_secret: WebhookSecret | None = None
    sms: Phone | None = None
    grants: list[AccessGrant] = Field(default_factory=list)
    no_applicable_law_reason: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="Why no breach-notification law reaches this customer (with no_applicable_law)."
    )
    no_applicable_law: bool = Field(
        default=False,
        description="The map says, with a reason, that no rules file is to cover this customer's country or state; "
        "otherwise `datamap check` refuses a customer no rules file covers.",
    )

    @field_validator("no_applicable_law")
    @classmethod
    def _says_why(cls, value: bool, info: ValidationInfo) -> bool:
        # Declared after the reason, so that the reason has been read when this runs.
        if value and not info.data.get("no_applicable_law_reason"):
            raise ValueError("needs no_applicable_law_reason: say why no breach law applies")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not _is_zone(value):
            raise ValueError(f"unknown time zone {value!r}")
        return sys.intern(value)

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if not _is_locale(value):
            raise ValueError(f"unknown locale {value!r}")
        return sys.intern(value)

    @model_validator(mode="after")
    def _reachable(self) -> "Customer":
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("webhook_url needs a webhook_secret to sign with")
        if not (self.privacy_email or self.admin_emails or self.webhook_url):
            raise ValueError("a customer needs a privacy_email, admin_emails or a webhook_url")
        return self
