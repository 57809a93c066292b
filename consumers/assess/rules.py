"""Jurisdiction rules as data, and the clock engine that reads them.

One TOML file per jurisdiction lives in ``rules/``; :func:`load_rules` reads them all into a
:class:`RuleBook`. Each :class:`Jurisdiction` says who it applies to and lists its
:class:`Obligation` s, one per audience (a ``schemas.LegalAudience``: ``authority``,
``data_subjects``, ``controller``, ...), each with a :class:`Clock`, a :class:`Threshold`, the
:class:`Authority` to reach (authority notices only), the items the notice must carry and a citation.

Clocks
------
``hours``
    N hours after the anchor, added to the UTC instant: a daylight-saving change never moves the
    deadline (72 hours are 72 elapsed hours).
``calendar_days``
    The end of the Nth calendar day after the day of the anchor, counted in the jurisdiction's
    own time zone: the deadline is 23:59:59.999999 local time on ``anchor_day + N``, converted
    to UTC. This reads "no later than 3 calendar days after the day the organisation makes that
    assessment" (PDPA s26D(1)) and "within 30 calendar days of discovery" (Cal. Civ. Code
    1798.82) the same way: the day of the anchor is day 0 and the whole of day N is allowed.
    Because the count is in local days, a deadline that spans a daylight-saving change lands
    at local midnight, so its UTC offset is that of the last day.
``without_undue_delay``
    The law gives no number ("without undue delay", "immediately", "promptly"); the rules file
    sets ``target_hours`` from the contract or from policy (``basis`` says which, and may not be
    ``"law"``), counted like an hours clock.
``working_days``
    The end of the Nth working day after the day of the anchor, in the jurisdiction's zone: a
    working day is Monday to Friday and not a public holiday of the jurisdiction's ``holidays``
    country (from the ``holidays`` package), so "3 working days" (ANPD Resolution 15/2024) skips
    weekends and national holidays such as Tiradentes; optional days off such as Carnival count as
    working days, which can only make the deadline earlier.
``after_year_end``
    N calendar days after the end of the calendar year in which the anchor falls, ending at local
    midnight: "within 60 days after the end of each calendar year" (45 CFR 164.408(c)).

Anchors (``Clock.after``)
-------------------------
``awareness``
    When the organisation became aware of (discovered, had knowledge or reasonable belief of)
    the breach. GDPR Art. 33, NPC Circular 16-03, Cal. Civ. Code 1798.82, NY GBL 899-aa, HIPAA.
``determination``
    When the organisation determined that the breach occurred or is notifiable, or concluded its
    assessment of harm (PDPA s26D(1), CRS 6-1-716, Fla. Stat. 501.171, Privacy Act 1988 s26WH).
    While no determination is recorded the clock *waits* for it (:meth:`Obligation.waits_for`)
    and shows its latest possible date: counted from the end of ``determination_within_days``
    after awareness, where the law or the regulator's guidance bounds the assessment (30 days in
    Singapore and Australia), else from awareness, the earliest the determination can be.
``data_subjects_notice``
    When the notice to data subjects of the same jurisdiction went out (Cal. Civ. Code
    1798.82(f): the Attorney General within 15 calendar days of notifying residents; HIPAA
    164.408(b): HHS contemporaneously). Until that notice is sent, the deadline is counted from
    the data-subject notice's own deadline, i.e. the latest the law allows if residents are
    notified on time; recompute it with ``subjects_notified`` once they are.

Thresholds
----------
:class:`Facts` holds what is known of an incident; any fact may still be unknown (``None``).
:meth:`Obligation.is_notifiable` answers ``True``, ``False`` or ``None`` (cannot tell yet) using
three-valued logic, so an unknown fact only makes the answer unknown when it could change it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from holidays import HolidayBase, country_holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas import LEGAL_AUDIENCES, Audience, LegalAudience

__all__ = [
    "Anchor",
    "AppliesTo",
    "Authority",
    "Basis",
    "Clock",
    "ClockKind",
    "Facts",
    "FilingChannel",
    "Flag",
    "Jurisdiction",
    "Obligation",
    "RuleBook",
    "RulesError",
    "Threshold",
    "describe",
    "load_rules",
    "read_toml",
]

ClockKind = Literal["hours", "calendar_days", "working_days", "without_undue_delay", "after_year_end"]
Anchor = Literal["awareness", "determination", "data_subjects_notice"]
Basis = Literal["law", "contract", "policy"]
FilingChannel = Literal["online_form", "portal", "email", "mail"]
"""How an authority takes a report (not a notice's ``schemas.Channel``)."""

# The qualitative facts a threshold may name. Each is a field of Facts (a test keeps them in step).
Flag = Literal[
    "sensitive_data",
    "unauthorised_acquisition",
    "serious_harm",
    "significant_harm",
    "likely_high_risk",
    "harm_unlikely",
    "harm_mitigated",
    "encrypted",
]

_SLUG = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
_URL = r"^https?://\S+$"


class RulesError(ValueError):
    """A rules file cannot be read: the message names the file, and the field or line at fault."""


class _Model(BaseModel):
    # strict: TOML already gives native types, so "30" is a mistake, not a number.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Facts and three-valued logic


class Facts(BaseModel):
    """What is known of an incident, per jurisdiction. ``None`` means not known (yet)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    affected: int | None = Field(default=None, ge=0)
    """People affected in this jurisdiction (residents of the state, data subjects, ...)."""

    sensitive_data: bool | None = None
    """Sensitive personal information, or information that may enable identity fraud
    (NPC Circular 16-03 s11(A): financial data, login data, biometrics, ID documents, ...)."""

    unauthorised_acquisition: bool | None = None
    """There is reason to believe the data may have been acquired by an unauthorised person
    (NPC Circular 16-03 s11(B))."""

    serious_harm: bool | None = None
    """The acquisition is likely to give rise to a real risk of serious harm to a data subject
    (NPC Circular 16-03 s11(C))."""

    significant_harm: bool | None = None
    """The breach results in, or is likely to result in, significant harm to an affected
    individual, including the prescribed data of the 2021 Regulations (PDPA s26B(1)(a), (2))."""

    likely_high_risk: bool | None = None
    """Likely to result in a high risk to the rights and freedoms of natural persons
    (GDPR Art. 34(1))."""

    harm_unlikely: bool | None = None
    """A documented assessment concluded that harm is not likely: GDPR Art. 33(1) "unlikely to
    result in a risk"; CRS 6-1-716(2) misuse not reasonably likely; Fla. Stat. 501.171(4)(c) no
    identity theft or financial harm likely; HIPAA 164.402 low probability of compromise."""

    harm_mitigated: bool | None = None
    """Measures taken after the breach make the (high / significant) harm no longer likely
    (GDPR Art. 34(3)(b), PDPA s26D(5)(a))."""

    encrypted: bool | None = None
    """The data were encrypted or otherwise unintelligible and the key was not compromised
    (GDPR Art. 34(3)(a), PDPA s26D(5)(b), US state safe harbours, HIPAA "secured" PHI)."""

    def flag(self, name: Flag) -> bool | None:
        value: bool | None = getattr(self, name)
        return value


def _all(values: Iterable[bool | None]) -> bool | None:
    result: bool | None = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def _any(values: Iterable[bool | None]) -> bool | None:
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _at_least(affected: int | None, minimum: int) -> bool | None:
    return None if affected is None else affected >= minimum


# --------------------------------------------------------------------------------------------
# Rules models


class Clock(_Model):
    """How long the notice may take, and from when. See the module docstring."""

    kind: ClockKind
    hours: int | None = Field(default=None, gt=0)
    days: int | None = Field(default=None, ge=0)
    target_hours: int | None = Field(default=None, gt=0)
    after: Anchor = "awareness"
    determination_within_days: int | None = Field(default=None, gt=0)
    """The longest the law (or the regulator's guidance) allows for the determination; only with
    ``after = "determination"``. Bounds the latest possible date while no determination is known."""
    basis: Basis = "law"
    """Where the number comes from: the law itself, the contract, or our own policy."""
    wording: str = ""
    """The law's own words for the deadline, for the notice and the audit trail."""

    @model_validator(mode="after")
    def _one_length(self) -> Clock:
        needed = {
            "hours": "hours",
            "calendar_days": "days",
            "working_days": "days",
            "without_undue_delay": "target_hours",
            "after_year_end": "days",
        }[self.kind]
        for name in ("hours", "days", "target_hours"):
            value = getattr(self, name)
            if name == needed and value is None:
                raise ValueError(f"a {self.kind} clock needs `{name}`")
            if name != needed and value is not None:
                raise ValueError(f"a {self.kind} clock takes `{needed}`, not `{name}`")
        if self.kind == "without_undue_delay" and self.basis == "law":
            raise ValueError("the law sets no number for `without_undue_delay`: basis must be contract or policy")
        if self.determination_within_days is not None and self.after != "determination":
            raise ValueError('`determination_within_days` goes with after = "determination"')
        return self

    @property
    def length(self) -> timedelta:
        """The hours to add (hours and without-undue-delay clocks) or days to count."""
        if self.kind in ("calendar_days", "working_days", "after_year_end"):
            return timedelta(days=self.days or 0)
        return timedelta(hours=(self.hours if self.kind == "hours" else self.target_hours) or 0)


class Threshold(_Model):
    """When a notice is owed.

    Notifiable iff all of these hold (an empty part holds):
    ``affected >= min_affected``; ``affected <= max_affected``; every flag in ``all_of``; at least one of ``any_of`` or
    ``affected >= or_min_affected``; none of ``none_of`` (exemptions, safe harbours).
    """

    min_affected: int | None = Field(default=None, ge=1)
    max_affected: int | None = Field(default=None, ge=0)
    all_of: list[Flag] = Field(default_factory=list)
    any_of: list[Flag] = Field(default_factory=list)
    or_min_affected: int | None = Field(default=None, ge=1)
    none_of: list[Flag] = Field(default_factory=list)

    def evaluate(self, facts: Facts) -> bool | None:
        parts: list[bool | None] = []
        if self.min_affected is not None:
            parts.append(_at_least(facts.affected, self.min_affected))
        if self.max_affected is not None:
            parts.append(_not(_at_least(facts.affected, self.max_affected + 1)))
        parts.extend(facts.flag(name) for name in self.all_of)
        if self.any_of or self.or_min_affected is not None:
            alternatives = [facts.flag(name) for name in self.any_of]
            if self.or_min_affected is not None:
                alternatives.append(_at_least(facts.affected, self.or_min_affected))
            parts.append(_any(alternatives))
        parts.append(_not(_any(facts.flag(name) for name in self.none_of)))
        return _all(parts)


class Authority(_Model):
    name: str = Field(min_length=1)
    channel: FilingChannel
    url: str = Field(pattern=_URL)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")


class Obligation(_Model):
    """One duty to notify one audience under one jurisdiction."""

    id: str = Field(pattern=_SLUG)
    """Unique within the jurisdiction (a jurisdiction may have two authority notices)."""
    audience: LegalAudience
    clock: Clock
    threshold: Threshold = Field(default_factory=Threshold)
    authority: Authority | None = None
    contents: list[str] = Field(default_factory=list)
    """Items the notice must carry (slugs the templates fill in)."""
    late_contents: list[str] = Field(default_factory=list)
    """Items a notice sent after its deadline must add (e.g. GDPR Art. 33(1) reasons for delay)."""
    citation: str = Field(min_length=1)
    notes: str = ""

    _zone: ZoneInfo | None = PrivateAttr(default=None)
    _holidays: HolidayBase | None = PrivateAttr(default=None)
    _subjects_notice: Obligation | None = PrivateAttr(default=None)

    @field_validator("audience", mode="before")
    @classmethod
    def _known_audience(cls, value: Any) -> Any:
        # pydantic would list the allowed enum members by their repr; a rules file's author wants the words.
        if value not in LEGAL_AUDIENCES:
            raise ValueError(f"{value!r} is not one of {', '.join(repr(a.value) for a in LEGAL_AUDIENCES)}")
        return value

    @field_validator("contents", "late_contents")
    @classmethod
    def _slugs(cls, items: list[str]) -> list[str]:
        for item in items:
            if not re.fullmatch(_SLUG, item):
                raise ValueError(f"{item!r} is not a lower-case slug")
        if len(set(items)) != len(items):
            raise ValueError("duplicate items")
        return items

    @model_validator(mode="after")
    def _authority_iff_audience(self) -> Obligation:
        if self.audience is Audience.AUTHORITY and self.authority is None:
            raise ValueError("an authority notice needs an [obligations.authority] table")
        if self.audience in (Audience.CONTROLLER, Audience.DATA_SUBJECTS) and self.authority is not None:
            raise ValueError(f"a {self.audience} notice takes no authority")
        if self.audience is Audience.DATA_SUBJECTS and self.clock.after == "data_subjects_notice":
            raise ValueError("a data_subjects clock cannot run from the data_subjects notice")
        return self

    def is_notifiable(self, facts: Facts) -> bool | None:
        """True or False, or None while a fact that could change the answer is unknown."""
        return self.threshold.evaluate(facts)

    def waits_for(self, determination: datetime | None) -> Literal["determination"] | None:
        """``"determination"`` while this clock (or the data-subject clock it runs from) waits for one."""
        if determination is not None:
            return None
        if self.clock.after == "determination":
            return "determination"
        if self.clock.after == "data_subjects_notice" and self._subjects_notice is not None:
            return self._subjects_notice.waits_for(determination)
        return None

    def due_at(
        self,
        awareness: datetime,
        determination: datetime | None = None,
        *,
        subjects_notified: datetime | None = None,
    ) -> datetime:
        """The deadline, as an aware UTC datetime.

        ``awareness``: when the organisation became aware of the breach. ``determination``: when
        it determined that the breach occurred / is notifiable (only ``after = "determination"``
        clocks use it; without it they give their latest possible date, see the module docstring).
        ``subjects_notified``: when the data-subject notice went out (only
        ``after = "data_subjects_notice"`` clocks use it). Hours clocks add elapsed hours to the
        UTC instant; day clocks end at 23:59:59.999999 local time, in the jurisdiction's zone.
        All inputs must be timezone-aware.
        """
        for label, moment in (
            ("awareness", awareness),
            ("determination", determination),
            ("subjects_notified", subjects_notified),
        ):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{label} must be a timezone-aware datetime")
        if determination is not None and determination < awareness:
            raise ValueError("determination cannot precede awareness")

        anchor = self._anchor(awareness, determination, subjects_notified)
        kind = self.clock.kind
        if kind in ("hours", "without_undue_delay"):
            return anchor.astimezone(UTC) + self.clock.length
        zone = self._zone
        if zone is None:
            raise ValueError(f"a {kind} clock needs its jurisdiction's timezone; load it with a Jurisdiction")
        day = anchor.astimezone(zone).date()
        days = self.clock.days or 0
        if kind == "working_days":
            last_day = self._working_day(day, days)
        elif kind == "after_year_end":
            last_day = date(day.year, 12, 31) + timedelta(days=days)
        else:
            last_day = day + timedelta(days=days)
        return datetime.combine(last_day, time.max, tzinfo=zone).astimezone(UTC)

    def _working_day(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day``: weekends and the jurisdiction's public holidays skipped."""
        if self._holidays is None:
            raise ValueError("a working_days clock needs its jurisdiction's `holidays`; load it with a Jurisdiction")
        while count > 0:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in self._holidays:
                count -= 1
        return day

    def _anchor(
        self, awareness: datetime, determination: datetime | None, subjects_notified: datetime | None
    ) -> datetime:
        if self.clock.after == "determination":
            if determination is not None:
                return determination
            return awareness + timedelta(days=self.clock.determination_within_days or 0)
        if self.clock.after == "data_subjects_notice":
            if subjects_notified is not None:
                return subjects_notified
            if self._subjects_notice is None:
                raise ValueError("no data_subjects obligation to count from; load it with a Jurisdiction")
            return self._subjects_notice.due_at(awareness, determination)
        return awareness


class AppliesTo(_Model):
    """Which customers fall under a jurisdiction.

    A customer matches when its hosting region is in ``regions``, or its country is in
    ``countries`` and (when ``states`` is given) its state is in ``states``; with neither
    ``regions`` nor ``countries`` every place matches. A code listed both as a country and as a
    state is a territory that customer records file either way (countries = ["US", "PR"],
    states = ["PR"]): a customer whose country is that code matches whatever its state.
    ``covered_entity = true`` further requires the customer to be a HIPAA covered entity.
    """

    regions: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    states: list[str] = Field(default_factory=list)
    covered_entity: bool = False

    @field_validator("regions")
    @classmethod
    def _regions(cls, items: list[str]) -> list[str]:
        return _codes(items, r"[a-z]{2,8}", "a lower-case region code such as 'eu'")

    @field_validator("countries")
    @classmethod
    def _countries(cls, items: list[str]) -> list[str]:
        return _codes(items, r"[A-Z]{2}", "an upper-case ISO 3166 alpha-2 country code")

    @field_validator("states")
    @classmethod
    def _states(cls, items: list[str]) -> list[str]:
        return _codes(items, r"[A-Z]{2}", "an upper-case two-letter state code")

    @model_validator(mode="after")
    def _says_something(self) -> AppliesTo:
        if not (self.regions or self.countries or self.covered_entity):
            raise ValueError("give regions, countries or covered_entity")
        if self.states and not self.countries:
            raise ValueError("states need the country they belong to in `countries`")
        return self

    def matches(self, region: str, country: str, state: str | None, covered_entity: bool) -> bool:
        if self.regions or self.countries:
            in_region = region in self.regions
            in_country = country in self.countries and (
                not self.states or state in self.states or country in self.states
            )
            if not (in_region or in_country):
                return False
        return covered_entity or not self.covered_entity


def _codes(items: list[str], pattern: str, what: str) -> list[str]:
    for item in items:
        if not re.fullmatch(pattern, item):
            raise ValueError(f"{item!r} is not {what}")
    return items


class Jurisdiction(_Model):
    id: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1)
    timezone: str
    """IANA zone in which calendar days are counted."""
    applies_to: AppliesTo
    sources: list[str] = Field(min_length=1)
    checked: date
    """The day the sources were last checked against the rules."""
    holidays: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """ISO 3166 country whose public holidays ``working_days`` clocks skip (the ``holidays`` package)."""
    holidays_subdivision: str | None = None
    obligations: list[Obligation] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone") from None
        return name

    @field_validator("sources")
    @classmethod
    def _urls(cls, items: list[str]) -> list[str]:
        for item in items:
            if not re.fullmatch(_URL, item):
                raise ValueError(f"{item!r} is not an http(s) URL")
        return items

    @model_validator(mode="after")
    def _wire_obligations(self) -> Jurisdiction:
        ids = [o.id for o in self.obligations]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"obligation ids must be unique: {', '.join(duplicates)}")
        subjects = [o for o in self.obligations if o.audience is Audience.DATA_SUBJECTS]
        zone = ZoneInfo(self.timezone)
        calendar = self._holiday_calendar()
        for obligation in self.obligations:
            obligation._zone = zone
            obligation._holidays = calendar
            if obligation.clock.after == "data_subjects_notice":
                if len(subjects) != 1:
                    raise ValueError(
                        f"obligation {obligation.id!r} runs from the data_subjects notice, "
                        "which needs exactly one data_subjects obligation"
                    )
                obligation._subjects_notice = subjects[0]
        return self

    def _holiday_calendar(self) -> HolidayBase | None:
        working = [o.id for o in self.obligations if o.clock.kind == "working_days"]
        if self.holidays is None:
            if working:
                raise ValueError(f"obligation {working[0]!r} counts working days: give the top-level `holidays`")
            if self.holidays_subdivision is not None:
                raise ValueError("`holidays_subdivision` needs `holidays`")
            return None
        try:
            # years are filled in lazily as dates are looked up
            return country_holidays(self.holidays, subdiv=self.holidays_subdivision)
        except NotImplementedError as exc:
            raise ValueError(f"holidays: {exc}") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def applies(self, region: str, country: str, state: str | None, covered_entity: bool) -> bool:
        return self.applies_to.matches(region, country, state, covered_entity)

    def obligations_for(self, audience: LegalAudience) -> list[Obligation]:
        return [o for o in self.obligations if o.audience == audience]

    def obligation(self, obligation_id: str) -> Obligation:
        for o in self.obligations:
            if o.id == obligation_id:
                return o
        raise KeyError(f"{self.id} has no obligation {obligation_id!r}")


class RuleBook(_Model):
    jurisdictions: list[Jurisdiction]

    @model_validator(mode="after")
    def _unique(self) -> RuleBook:
        ids = [j.id for j in self.jurisdictions]
        if len(set(ids)) != len(ids):
            raise ValueError("jurisdiction ids must be unique")
        return self

    def __getitem__(self, jurisdiction_id: str) -> Jurisdiction:
        for jurisdiction in self.jurisdictions:
            if jurisdiction.id == jurisdiction_id:
                return jurisdiction
        raise KeyError(jurisdiction_id)

    @property
    def ids(self) -> list[str]:
        return [j.id for j in self.jurisdictions]

    def for_customer(self, region: str, country: str, state: str | None, covered_entity: bool) -> list[Jurisdiction]:
        """The jurisdictions whose law reaches a customer, sorted by id.

        ``region`` is the hosting region ("eu", "uk", "us", "sg"), ``country`` the customer's ISO
        3166 alpha-2 code, ``state`` its US state (or None), ``covered_entity`` whether it is a
        HIPAA covered entity. Codes are normalised to the case the rules files use.
        """
        region, country = region.lower(), country.upper()
        state = state.upper() if state else None
        found = [j for j in self.jurisdictions if j.applies(region, country, state, covered_entity)]
        return sorted(found, key=lambda j: j.id)


# --------------------------------------------------------------------------------------------
# Loading


# Not a jurisdiction: the release policy (``consumers.assess.release``) lives beside the rules.
NOT_JURISDICTIONS = frozenset({"release.toml"})


def load_rules(directory: Path) -> RuleBook:
    """Read every ``*.toml`` in ``directory`` (but the release policy); any problem raises :class:`RulesError`."""
    if not directory.is_dir():
        raise RulesError(f"{directory}: not a directory")
    paths = sorted(p for p in directory.glob("*.toml") if p.name not in NOT_JURISDICTIONS)
    if not paths:
        raise RulesError(f"{directory}: no *.toml rules files")
    return RuleBook(jurisdictions=[_load_file(path) for path in paths])


_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$", re.S)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables; :class:`RulesError` naming the file (and the line) when it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.match(str(exc))
        if match:
            where = f"line {match['line']}, column {match['column']}"
            raise RulesError(f"{path}: {where}: invalid TOML: {match['message']}") from None
        raise RulesError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from None


def describe(path: Path, exc: ValidationError) -> str:
    """One line per problem: the file, the field's path and what is wrong with it."""
    return _describe(path, exc.errors(include_url=False))


def _load_file(path: Path) -> Jurisdiction:
    data = read_toml(path)
    try:
        jurisdiction = Jurisdiction.model_validate(data)
    except ValidationError as exc:
        raise RulesError(describe(path, exc)) from None
    if jurisdiction.id != path.stem:
        raise RulesError(f"{path}: id: {jurisdiction.id!r} must match the file name {path.stem!r}")
    return jurisdiction


def _describe(path: Path, errors: Sequence[Mapping[str, Any]]) -> str:
    lines = [f"{path}: {_location(error['loc'])}: {error['msg']}" for error in errors]
    return "\n".join(lines)


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


# Keep Flag and Facts in step (checked at import: a flag with no fact is a programming error).
_missing = set(get_args(Flag)) - set(Facts.model_fields)
if _missing:  # pragma: no cover
    raise RuntimeError(f"Flag values without a Facts field: {sorted(_missing)}")
