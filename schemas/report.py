"""The report a subprocessor (or a monitor, or on-call staff) files about an actual or potential breach."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from schemas.common import Message, ReportStatus

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=20_000)]
Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class Contact(Message):
    """Who at the reporter answers questions about the incident."""

    name: ShortText
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    phone: Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{5,30}$")] | None = None


class Report(Message):
    """A report about one incident. Later reports about the same ``reference`` raise ``sequence``."""

    schema_version: Literal["breachwire.report/1"] = Field(default="breachwire.report/1", alias="schema")
    reference: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")] = Field(
        description="The reporter's own id for the incident; reports with the same reference are one incident."
    )
    status: ReportStatus
    sequence: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=1, description="The n-th report about this incident; each new one yields new notices."
    )
    title: ShortText
    description: LongText = ""
    aware_at: AwareDatetime = Field(description="When the reporter became aware of the incident.")
    occurred_from: AwareDatetime | None = None
    occurred_until: AwareDatetime | None = None
    regions: list[Code] = Field(default_factory=list, max_length=50)
    features: list[Code] = Field(default_factory=list, max_length=50)
    customer_accounts: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=10_000
    )
    data_categories: list[Code] = Field(default_factory=list, max_length=50)
    # bounded: a count past any real breach (and past a database's 64-bit integer) is a mistake, not a number
    approx_data_subjects: Annotated[int, Field(ge=0, le=10_000_000_000)] | None = None
    approx_records: Annotated[int, Field(ge=0, le=1_000_000_000_000_000)] | None = None
    likely_consequences: LongText | None = None
    measures_taken: LongText | None = None
    contact: Contact | None = None
    determinations: dict[Annotated[str, Field(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")], AwareDatetime] = Field(
        default_factory=dict,
        max_length=100,
        description="Per jurisdiction (its rules file's id, e.g. sg-pdpa): when the breach was determined to be "
        "notifiable, or the assessment of harm concluded. Clocks the law runs from that moment use it; until "
        "it is given they show their latest possible date and wait for it.",
    )

    @field_validator("occurred_until")
    @classmethod
    def _window_in_order(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("occurred_from")
        if until is not None and start is not None and until < start:
            raise ValueError("is before occurred_from")
        return until

    @field_validator("determinations")
    @classmethod
    def _determined_after_awareness(
        cls, determinations: dict[str, datetime], info: ValidationInfo
    ) -> dict[str, datetime]:
        aware = info.data.get("aware_at")
        for jurisdiction, at in determinations.items():
            if aware is not None and at < aware:
                raise ValueError(f"{jurisdiction}: a determination cannot precede aware_at")
        return determinations
