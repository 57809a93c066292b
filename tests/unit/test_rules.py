"""The jurisdiction rules files and the clock engine (consumers/assess/rules.py)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from consumers.assess.rules import (
    Facts,
    Flag,
    Jurisdiction,
    RuleBook,
    RulesError,
    load_rules,
)

RULES = Path(__file__).resolve().parents[2] / "rules"
SHIPPED = {"eu-gdpr", "uk-gdpr", "ph-dpa", "sg-pdpa", "us-ca", "us-ny", "us-fl", "us-co", "us-hipaa"}


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rules(RULES)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_shipped_jurisdiction_loads(book: RuleBook) -> None:
    assert set(book.ids) >= SHIPPED
    for jurisdiction in book.jurisdictions:
        assert jurisdiction.sources
        for obligation in jurisdiction.obligations:
            assert obligation.citation
            if obligation.audience == "authority":
                assert obligation.authority is not None


def test_flags_are_facts() -> None:
    assert set(get_args(Flag)) == set(Facts.model_fields) - {"affected"}


# ----------------------------------------------------------------------------------------------
# Clocks: one row per shipped jurisdiction and audience.
# Awareness 2026-06-10 09:30Z; determination (used only by determination clocks) 2026-06-11 20:00Z.

AWARE = utc("2026-06-10T09:30:00")
DETERMINED = utc("2026-06-11T20:00:00")
END = "23:59:59.999999"


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "audience", "expected"),
    [
        # GDPR: Art. 33(2) contract 24 h; Art. 33(1) 72 h; Art. 34 policy 72 h
        ("eu-gdpr", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("eu-gdpr", "supervisory-authority", "authority", "2026-06-13T09:30:00+00:00"),
        ("eu-gdpr", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        ("uk-gdpr", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("uk-gdpr", "ico", "authority", "2026-06-13T09:30:00+00:00"),
        ("uk-gdpr", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # NPC Circular 16-03: 72 h to the NPC and to data subjects
        ("ph-dpa", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("ph-dpa", "npc", "authority", "2026-06-13T09:30:00+00:00"),
        ("ph-dpa", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # PDPA: determination 2026-06-12 04:00 SGT -> end of 06-15 SGT
        ("sg-pdpa", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("sg-pdpa", "pdpc", "authority", f"2026-06-15T{END}+08:00"),
        ("sg-pdpa", "data-subjects", "data_subjects", f"2026-06-15T{END}+08:00"),
        # California: 30 days from discovery (awareness 06-10 PDT); AG 15 days after residents' deadline
        ("us-ca", "owner", "controller", "2026-06-11T09:30:00+00:00"),
        ("us-ca", "residents", "data_subjects", f"2026-07-10T{END}-07:00"),
        ("us-ca", "attorney-general", "authority", f"2026-07-25T{END}-07:00"),
        # New York: 30 days from discovery; regulators by the day residents are told
        ("us-ny", "owner", "controller", "2026-06-11T09:30:00+00:00"),
        ("us-ny", "residents", "data_subjects", f"2026-07-10T{END}-04:00"),
        ("us-ny", "state-regulators", "authority", f"2026-07-10T{END}-04:00"),
        ("us-ny", "dfs", "authority", f"2026-07-10T{END}-04:00"),
        # Florida: from determination (06-11 EDT): agent 10 days, individuals and department 30
        ("us-fl", "covered-entity", "controller", f"2026-06-21T{END}-04:00"),
        ("us-fl", "individuals", "data_subjects", f"2026-07-11T{END}-04:00"),
        ("us-fl", "department-of-legal-affairs", "authority", f"2026-07-11T{END}-04:00"),
        # Colorado: 30 days from determination (06-11 MDT)
        ("us-co", "covered-entity", "controller", "2026-06-11T09:30:00+00:00"),
        ("us-co", "residents", "data_subjects", f"2026-07-11T{END}-06:00"),
        ("us-co", "attorney-general", "authority", f"2026-07-11T{END}-06:00"),
        # HIPAA: 60 calendar days from discovery (06-10 EDT); HHS with the individuals' notice
        ("us-hipaa", "covered-entity", "controller", f"2026-08-09T{END}-04:00"),
        ("us-hipaa", "individuals", "data_subjects", f"2026-08-09T{END}-04:00"),
        ("us-hipaa", "hhs", "authority", f"2026-08-09T{END}-04:00"),
    ],
)
def test_clock_per_jurisdiction_and_audience(
    book: RuleBook, jurisdiction: str, obligation: str, audience: str, expected: str
) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.audience == audience
    due = rule.due_at(AWARE, DETERMINED)
    assert due.tzinfo is UTC
    assert due == datetime.fromisoformat(expected)


def test_every_shipped_obligation_has_an_aware_utc_deadline(book: RuleBook) -> None:
    for jurisdiction in book.jurisdictions:
        for obligation in jurisdiction.obligations:
            due = obligation.due_at(AWARE)
            assert due.tzinfo is UTC
            assert due >= AWARE


# ----------------------------------------------------------------------------------------------
# Daylight saving


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "awareness", "expected_utc"),
    [
        # 30 days over the 1 Nov 2026 fall-back: the last day is in PST (UTC-8), not PDT
        ("us-ca", "residents", "2026-10-20T18:00:00", "2026-11-20T07:59:59.999999"),
        # ... and in EST (UTC-5) for New York
        ("us-ny", "residents", "2026-10-15T14:00:00", "2026-11-15T04:59:59.999999"),
        # 60 days over the same change for HIPAA: 2026-09-15 10:00 EDT + 60 days = 11-14, EST
        ("us-hipaa", "individuals", "2026-09-15T14:00:00", "2026-11-15T04:59:59.999999"),
        # 30 days over the 8 Mar 2026 spring-forward in Colorado: the last day is in MDT (UTC-6)
        ("us-co", "residents", "2026-02-20T18:00:00", "2026-03-23T05:59:59.999999"),
        # hours clocks add elapsed hours: 72 h over the EU's 29 Mar 2026 change are still 72 h
        ("eu-gdpr", "supervisory-authority", "2026-03-27T10:00:00", "2026-03-30T10:00:00"),
        ("uk-gdpr", "ico", "2026-03-27T10:00:00", "2026-03-30T10:00:00"),
    ],
)
def test_clocks_across_daylight_saving_changes(
    book: RuleBook, jurisdiction: str, obligation: str, awareness: str, expected_utc: str
) -> None:
    due = book[jurisdiction].obligation(obligation).due_at(utc(awareness))
    assert due == utc(expected_utc)


def test_hours_clock_is_elapsed_time_though_the_wall_clock_moves(book: RuleBook) -> None:
    aware = utc("2026-03-27T10:00:00")
    due = book["eu-gdpr"].obligation("supervisory-authority").due_at(aware)
    assert due - aware == timedelta(hours=72)
    brussels = ZoneInfo("Europe/Brussels")
    assert aware.astimezone(brussels).hour == 11  # CET
    assert due.astimezone(brussels).hour == 12  # CEST: the wall clock gained an hour


def _calendar_rule(timezone: str, days: int) -> Jurisdiction:
    return Jurisdiction.model_validate(
        {
            "id": "test",
            "name": "Test",
            "timezone": timezone,
            "applies_to": {"regions": ["eu"]},
            "sources": ["https://example.org/"],
            "checked": date(2026, 12, 3),
            "obligations": [
                {
                    "id": "authority",
                    "audience": "authority",
                    "citation": "test",
                    "clock": {"kind": "calendar_days", "days": days, "after": "determination"},
                    "authority": {"name": "A", "channel": "email", "url": "https://example.org/"},
                }
            ],
        }
    )


def test_calendar_days_over_the_eu_march_change_end_at_local_midnight() -> None:
    rule = _calendar_rule("Europe/Brussels", 3).obligation("authority")
    # determined Fri 27 Mar 2026 13:00 CET; day 3 is Mon 30 Mar, which is in CEST (UTC+2)
    due = rule.due_at(utc("2026-03-27T09:00:00"), utc("2026-03-27T12:00:00"))
    assert due == utc("2026-03-30T21:59:59.999999")


@pytest.mark.parametrize(
    ("determination", "expected_utc"),
    [
        # 23:30 SGT on 11 Jun: day 0 is 11 Jun, deadline end of 14 Jun SGT
        ("2026-06-11T15:30:00", "2026-06-14T15:59:59.999999"),
        # 00:30 SGT on 12 Jun (still 11 Jun in UTC): day 0 is 12 Jun, deadline end of 15 Jun SGT
        ("2026-06-11T16:30:00", "2026-06-15T15:59:59.999999"),
    ],
)
def test_pdpa_counts_days_in_singapore_time(book: RuleBook, determination: str, expected_utc: str) -> None:
    rule = book["sg-pdpa"].obligation("pdpc")
    assert rule.due_at(utc("2026-06-11T01:00:00"), utc(determination)) == utc(expected_utc)


def test_determination_clock_shows_its_latest_date_until_determined(book: RuleBook) -> None:
    # aware 10 Jun 17:30 SGT; the PDPC expects the assessment within 30 days (10 Jul), then 3 calendar days
    rule = book["sg-pdpa"].obligation("pdpc")
    assert rule.waits_for(None) == "determination"
    assert rule.due_at(AWARE) == datetime.fromisoformat(f"2026-07-13T{END}+08:00")
    assert rule.waits_for(DETERMINED) is None
    assert rule.due_at(AWARE, DETERMINED) == datetime.fromisoformat(f"2026-06-15T{END}+08:00")


def test_unbounded_determination_clock_counts_from_awareness_and_waits(book: RuleBook) -> None:
    # Colorado sets no time for the determination: its earliest end is shown, and the clock says it waits
    rule = book["us-co"].obligation("residents")
    assert rule.waits_for(None) == "determination"
    assert rule.due_at(AWARE) == datetime.fromisoformat(f"2026-07-10T{END}-06:00")


def test_awareness_clocks_never_wait(book: RuleBook) -> None:
    for jurisdiction in ("eu-gdpr", "us-ca", "ph-dpa"):
        for obligation in book[jurisdiction].obligations:
            assert obligation.waits_for(None) is None, (jurisdiction, obligation.id)


def test_awareness_clock_ignores_determination(book: RuleBook) -> None:
    rule = book["us-ca"].obligation("residents")
    assert rule.due_at(AWARE, AWARE + timedelta(days=5)) == rule.due_at(AWARE)


def test_authority_clock_after_residents_notice(book: RuleBook) -> None:
    ag = book["us-ca"].obligation("attorney-general")
    notified = utc("2026-06-20T17:00:00")  # 10:00 PDT
    assert ag.due_at(AWARE, subjects_notified=notified) == datetime.fromisoformat(f"2026-07-05T{END}-07:00")


def test_naive_datetimes_are_refused(book: RuleBook) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        book["eu-gdpr"].obligation("controller").due_at(datetime(2026, 6, 10, 9, 30))


def test_determination_before_awareness_is_refused(book: RuleBook) -> None:
    with pytest.raises(ValueError, match="precede"):
        book["us-co"].obligation("residents").due_at(AWARE, AWARE - timedelta(hours=1))


# ----------------------------------------------------------------------------------------------
# Thresholds

NO_EXEMPTION = {"encrypted": False, "harm_unlikely": False, "harm_mitigated": False}


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "facts", "expected"),
    [
        # PDPA: significant scale is 500 or more (reg 4), or significant harm whatever the number
        ("sg-pdpa", "pdpc", {"affected": 499, "significant_harm": False}, False),
        ("sg-pdpa", "pdpc", {"affected": 500, "significant_harm": False}, True),
        ("sg-pdpa", "pdpc", {"affected": 3, "significant_harm": True}, True),
        ("sg-pdpa", "pdpc", {"affected": None, "significant_harm": False}, None),
        ("sg-pdpa", "pdpc", {"affected": None, "significant_harm": True}, True),
        # ... individuals only for significant harm, not for scale alone
        ("sg-pdpa", "data-subjects", {"affected": 10_000, "significant_harm": False, **NO_EXEMPTION}, False),
        ("sg-pdpa", "data-subjects", {"affected": 2, "significant_harm": True, **NO_EXEMPTION}, True),
        # California AG: more than 500 residents
        ("us-ca", "attorney-general", {"affected": 500, **NO_EXEMPTION}, False),
        ("us-ca", "attorney-general", {"affected": 501, **NO_EXEMPTION}, True),
        ("us-ca", "attorney-general", {"affected": 10_000, **{**NO_EXEMPTION, "encrypted": True}}, False),
        ("us-ca", "residents", {"affected": 1, **NO_EXEMPTION}, True),
        # Colorado and Florida: 500 or more
        ("us-co", "attorney-general", {"affected": 499, **NO_EXEMPTION}, False),
        ("us-co", "attorney-general", {"affected": 500, **NO_EXEMPTION}, True),
        ("us-fl", "department-of-legal-affairs", {"affected": 499, **NO_EXEMPTION}, False),
        ("us-fl", "department-of-legal-affairs", {"affected": 500, **NO_EXEMPTION}, True),
        ("us-fl", "individuals", {"affected": 5, **{**NO_EXEMPTION, "harm_unlikely": True}}, False),
        # HIPAA: HHS with the individuals' notice at 500 or more
        ("us-hipaa", "hhs", {"affected": 499, **NO_EXEMPTION}, False),
        ("us-hipaa", "hhs", {"affected": 500, **NO_EXEMPTION}, True),
        ("us-hipaa", "hhs", {"affected": None, **NO_EXEMPTION}, None),
        ("us-hipaa", "individuals", {"affected": 1, **{**NO_EXEMPTION, "encrypted": True}}, False),
        # GDPR: authority unless unlikely to result in a risk; subjects when likely high risk
        ("eu-gdpr", "supervisory-authority", {"harm_unlikely": False}, True),
        ("eu-gdpr", "supervisory-authority", {"harm_unlikely": True}, False),
        ("eu-gdpr", "supervisory-authority", {}, None),
        ("eu-gdpr", "data-subjects", {"likely_high_risk": True, **NO_EXEMPTION}, True),
        (
            "eu-gdpr",
            "data-subjects",
            {"likely_high_risk": True, **{**NO_EXEMPTION, "encrypted": True}},
            False,
        ),
        ("eu-gdpr", "data-subjects", {"likely_high_risk": False}, False),
        ("eu-gdpr", "controller", {}, True),
        # Philippines s11: sensitive data AND unauthorised acquisition AND real risk of serious harm
        (
            "ph-dpa",
            "npc",
            {"sensitive_data": True, "unauthorised_acquisition": True, "serious_harm": True},
            True,
        ),
        (
            "ph-dpa",
            "npc",
            {"sensitive_data": False, "unauthorised_acquisition": True, "serious_harm": None},
            False,
        ),
        (
            "ph-dpa",
            "npc",
            {"sensitive_data": True, "unauthorised_acquisition": True, "serious_harm": None},
            None,
        ),
        ("ph-dpa", "controller", {}, True),
    ],
)
def test_threshold(
    book: RuleBook, jurisdiction: str, obligation: str, facts: dict[str, object], expected: bool | None
) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.is_notifiable(Facts.model_validate(facts)) is expected


# ----------------------------------------------------------------------------------------------
# Who falls under what


@pytest.mark.parametrize(
    ("region", "country", "state", "covered_entity", "expected"),
    [
        ("eu", "DE", None, False, ["eu-gdpr"]),
        ("uk", "GB", None, False, ["uk-gdpr"]),
        ("sg", "SG", None, False, ["sg-pdpa"]),
        ("sg", "PH", None, False, ["ph-dpa", "sg-pdpa"]),
        ("eu", "PH", None, False, ["eu-gdpr", "ph-dpa"]),
        ("us", "PH", None, False, ["ph-dpa"]),
        ("us", "US", "CA", True, ["us-ca", "us-hipaa"]),
        ("us", "US", "CA", False, ["us-ca"]),
        ("us", "US", "NY", False, ["us-ny"]),
        ("us", "US", "FL", False, ["us-fl"]),
        ("us", "US", "CO", True, ["us-co", "us-hipaa"]),
        ("us", "US", "TX", True, ["us-hipaa", "us-tx"]),
        ("us", "US", "TX", False, ["us-tx"]),
        ("us", "US", None, False, []),
        ("EU", "de", None, False, ["eu-gdpr"]),
    ],
)
def test_for_customer(
    book: RuleBook, region: str, country: str, state: str | None, covered_entity: bool, expected: list[str]
) -> None:
    assert [j.id for j in book.for_customer(region, country, state, covered_entity)] == expected


def test_adding_a_jurisdiction_is_adding_a_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "us-co.toml").read_text(encoding="utf-8")
    text = text.replace('id = "us-co"', 'id = "us-tx"').replace('states = ["CO"]', 'states = ["TX"]')
    (rules / "us-tx.toml").write_text(text, encoding="utf-8")
    book = load_rules(rules)
    assert [j.id for j in book.for_customer("us", "US", "TX", False)] == ["us-tx"]


# ----------------------------------------------------------------------------------------------
# Loader errors name the file and the field (or the line)


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (RULES / name).read_text(encoding="utf-8")
    assert old in text
    (rules / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return rules


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (
            "us-ca.toml",
            "days = 30",
            'days = "thirty"',
            "us-ca.toml: obligations[1].clock.days: Input should be a valid integer",
        ),
        ("us-ca.toml", "days = 30", "days = 30.5", "us-ca.toml: obligations[1].clock.days: Input should be"),
        (
            "us-ca.toml",
            "days = 30",
            "hours = 30",
            "us-ca.toml: obligations[1].clock: Value error, a calendar_days",
        ),
        ("us-ca.toml", "days = 30", "dayz = 30", "us-ca.toml: obligations[1].clock.dayz: Extra inputs"),
        (
            "eu-gdpr.toml",
            'timezone = "Europe/Brussels"',
            'timezone = "Mars/Olympus"',
            "eu-gdpr.toml: timezone:",
        ),
        (
            "eu-gdpr.toml",
            'none_of = ["harm_unlikely"]',
            'none_of = ["vibes"]',
            "obligations[1].threshold.none_of[0]",
        ),
        (
            "eu-gdpr.toml",
            'basis = "contract"',
            'basis = "law"',
            "obligations[0].clock: Value error, the law sets",
        ),
        (
            "sg-pdpa.toml",
            'countries = ["SG"]',
            'countries = ["sg"]',
            "sg-pdpa.toml: applies_to.countries: Value",
        ),
        (
            "sg-pdpa.toml",
            'audience = "authority"',
            'audience = "regulator"',
            "sg-pdpa.toml: obligations[1].audience: Value error, 'regulator' is not one of 'controller', 'authority', "
            "'data_subjects', 'consumer_reporting_agencies', 'media'",
        ),
        (  # a notice's audience, not a party the law names
            "sg-pdpa.toml",
            'audience = "authority"',
            'audience = "customer"',
            "sg-pdpa.toml: obligations[1].audience: Value error, 'customer' is not one of 'controller'",
        ),
        ("us-co.toml", 'id = "us-co"', 'id = "us-colorado"', "us-co.toml: id: 'us-colorado' must match"),
        (
            "us-fl.toml",
            "[obligations.authority]\n"
            'name = "Florida Department of Legal Affairs (Office of the Attorney General)"\n'
            'channel = "mail"\nurl = "https://www.myfloridalegal.com/"\n',
            "",
            "us-fl.toml: obligations[2]: Value error, an authority notice needs",
        ),
    ],
)
def test_loader_names_file_and_field(tmp_path: Path, name: str, old: str, new: str, message: str) -> None:
    rules = _broken(tmp_path, name, old, new)
    with pytest.raises(RulesError) as caught:
        load_rules(rules)
    assert message in str(caught.value)
    assert str(rules / name) in str(caught.value)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    rules = _broken(tmp_path, "uk-gdpr.toml", 'name = "UK GDPR', 'name = UK GDPR "')
    with pytest.raises(RulesError, match=r"uk-gdpr\.toml: line 9, column \d+: invalid TOML"):
        load_rules(rules)


def test_rules_error_is_a_value_error() -> None:
    assert issubclass(RulesError, ValueError)


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"no \*\.toml"):
        load_rules(tmp_path)
    with pytest.raises(RulesError, match="not a directory"):
        load_rules(tmp_path / "nowhere")


# ----------------------------------------------------------------------------------------------
# Working days, the year's end, upper bounds


def _rule(
    clock: dict[str, object], *, holidays: str | None = None, threshold: dict[str, object] | None = None
) -> Jurisdiction:
    data: dict[str, object] = {
        "id": "test",
        "name": "Test",
        "timezone": "America/Sao_Paulo",
        "applies_to": {"countries": ["BR"]},
        "sources": ["https://example.org/"],
        "checked": date(2026, 12, 3),
        "obligations": [
            {
                "id": "authority",
                "audience": "authority",
                "citation": "test",
                "clock": clock,
                "threshold": threshold or {},
                "authority": {"name": "A", "channel": "online_form", "url": "https://example.org/"},
            }
        ],
    }
    if holidays:
        data["holidays"] = holidays
    return Jurisdiction.model_validate(data)


@pytest.mark.parametrize(
    ("awareness", "expected_local_day"),
    [
        # Wed 15 Apr 2026 -> Thu 16, Fri 17, Mon 20 (no holiday in between)
        ("2026-04-15T13:00:00", "2026-04-20"),
        # Fri 17 Apr -> Mon 20, Wed 22, Thu 23: Tuesday 21 April is Tiradentes, a national holiday
        ("2026-04-17T13:00:00", "2026-04-23"),
        # late on Fri 17 Apr in UTC is still Friday in Sao Paulo (UTC-3)
        ("2026-04-18T01:00:00", "2026-04-23"),
        # Thu 31 Dec 2026 -> Fri 1 Jan is New Year's Day: Mon 4, Tue 5, Wed 6 Jan 2027
        ("2026-12-31T13:00:00", "2027-01-06"),
    ],
)
def test_working_days_skip_weekends_and_public_holidays(awareness: str, expected_local_day: str) -> None:
    rule = _rule({"kind": "working_days", "days": 3}, holidays="BR").obligation("authority")
    due = rule.due_at(utc(awareness))
    assert due == datetime.fromisoformat(f"{expected_local_day}T{END}-03:00")


def test_working_days_need_a_holiday_calendar() -> None:
    with pytest.raises(ValueError, match="holidays"):
        _rule({"kind": "working_days", "days": 3})


def test_unknown_holiday_country_is_refused() -> None:
    with pytest.raises(ValueError, match="holidays"):
        _rule({"kind": "working_days", "days": 3}, holidays="ZZ")


@pytest.mark.parametrize(
    ("awareness", "expected"),
    [
        # within 60 days after the end of the calendar year: 1 Mar 2027 (2027 is not a leap year)
        ("2026-06-10T12:00:00", f"2027-03-01T{END}-03:00"),
        # 29 Feb in a leap year: a breach discovered in 2027 is due by 29 Feb 2028
        ("2027-01-05T12:00:00", f"2028-02-29T{END}-03:00"),
        # 1 Jan 02:00 UTC is 31 Dec 23:00 in Sao Paulo: still the year before
        ("2027-01-01T02:00:00", f"2027-03-01T{END}-03:00"),
    ],
)
def test_after_year_end(awareness: str, expected: str) -> None:
    rule = _rule({"kind": "after_year_end", "days": 60}).obligation("authority")
    assert rule.due_at(utc(awareness)) == datetime.fromisoformat(expected)


@pytest.mark.parametrize(("affected", "notifiable"), [(None, None), (0, True), (499, True), (500, False)])
def test_max_affected(affected: int | None, notifiable: bool | None) -> None:
    rule = _rule({"kind": "after_year_end", "days": 60}, threshold={"max_affected": 499}).obligation("authority")
    assert rule.is_notifiable(Facts(affected=affected)) is notifiable


def test_determination_window_goes_with_a_determination_clock() -> None:
    with pytest.raises(ValueError, match="determination_within_days"):
        _rule({"kind": "hours", "hours": 72, "determination_within_days": 30})


def test_a_clock_after_a_waiting_notice_waits_too(book: RuleBook) -> None:
    # an authority told with the residents, whose own clock runs from the determination
    jurisdiction = Jurisdiction.model_validate(
        {
            "id": "test",
            "name": "Test",
            "timezone": "UTC",
            "applies_to": {"countries": ["US"]},
            "sources": ["https://example.org/"],
            "checked": date(2026, 12, 3),
            "obligations": [
                {
                    "id": "people",
                    "audience": "data_subjects",
                    "citation": "t",
                    "clock": {"kind": "calendar_days", "days": 30, "after": "determination"},
                },
                {
                    "id": "ag",
                    "audience": "authority",
                    "citation": "t",
                    "clock": {"kind": "calendar_days", "days": 0, "after": "data_subjects_notice"},
                    "authority": {"name": "AG", "channel": "email", "url": "https://example.org/"},
                },
            ],
        }
    )
    assert jurisdiction.obligation("ag").waits_for(None) == "determination"
    assert jurisdiction.obligation("ag").waits_for(DETERMINED) is None


def test_consumer_reporting_agencies_may_name_who_they_are() -> None:
    rule = _rule({"kind": "hours", "hours": 1})
    data = rule.model_dump()
    data["obligations"][0].update(audience="consumer_reporting_agencies")
    assert Jurisdiction.model_validate(data).obligations[0].audience == "consumer_reporting_agencies"
    data["obligations"][0].update(audience="controller")
    with pytest.raises(ValueError, match="takes no authority"):
        Jurisdiction.model_validate(data)


def test_every_rules_file_says_when_it_was_checked(book: RuleBook) -> None:
    for jurisdiction in book.jurisdictions:
        assert jurisdiction.checked >= date(2026, 1, 1), jurisdiction.id
