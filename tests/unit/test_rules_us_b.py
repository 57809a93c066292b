"""Rules files for US states MT..WY, Puerto Rico, Guam, the US Virgin Islands, and HIPAA in full.

Each case reads a shipped rules file through the clock engine: the deadline an on-call engineer
would see for a breach discovered at a known instant, who must be told above which count, which
safe harbours lift a duty, and which regulator is named.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.assess.rules import Facts, RuleBook, load_rules

RULES = Path(__file__).resolve().parents[2] / "rules"

STATES = [
    "MT", "NE", "NV", "NH", "NJ", "NM", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC",
    "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
]  # fmt: skip
TERRITORIES = ["PR", "GU", "VI"]
JURISDICTIONS = [f"us-{code.lower()}" for code in STATES + TERRITORIES]

# A Monday afternoon in June: daylight-saving time everywhere it is kept, no holiday near.
AWARE = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
# When the residents' notice went out, for the clocks that run from it.
NOTIFIED = datetime(2026, 6, 20, 16, 0, tzinfo=UTC)

END = "23:59:59.999999"
H24 = "2026-06-02T15:00:00+00:00"  # "immediately": the contract's 24 hours
H72 = "2026-06-04T15:00:00+00:00"
D30 = "2026-07-01T15:00:00+00:00"  # no number in the law: policy's 720 hours

NO_EXEMPTION: dict[str, Any] = {"encrypted": False, "harm_unlikely": False}


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rules(RULES)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ----------------------------------------------------------------------------------------------
# Clocks: exact due time for a breach discovered at AWARE (residents told at NOTIFIED)


CLOCKS = [
    # Montana: simultaneously with the residents' notice
    ("us-mt", "owner", H24),
    ("us-mt", "residents", D30),
    ("us-mt", "office-of-consumer-protection", f"2026-06-20T{END}-06:00"),
    ("us-mt", "consumer-reporting-agencies", f"2026-06-20T{END}-06:00"),
    # Nebraska: the AG no later than the residents
    ("us-ne", "owner", H24),
    ("us-ne", "residents", D30),
    ("us-ne", "attorney-general", f"2026-06-20T{END}-05:00"),
    ("us-nv", "owner", H24),
    ("us-nv", "residents", D30),
    ("us-nv", "consumer-reporting-agencies", f"2026-06-20T{END}-07:00"),
    ("us-nh", "owner", H24),
    ("us-nh", "residents", D30),
    ("us-nh", "attorney-general", f"2026-06-20T{END}-04:00"),
    ("us-nh", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # New Jersey: the State Police before the customers
    ("us-nj", "owner", H24),
    ("us-nj", "residents", D30),
    ("us-nj", "state-police", H72),
    ("us-nj", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # New Mexico: 45 calendar days from discovery for all four
    ("us-nm", "owner", f"2026-07-16T{END}-06:00"),
    ("us-nm", "residents", f"2026-07-16T{END}-06:00"),
    ("us-nm", "attorney-general", f"2026-07-16T{END}-06:00"),
    ("us-nm", "consumer-reporting-agencies", f"2026-07-16T{END}-06:00"),
    ("us-nc", "owner", H24),
    ("us-nc", "residents", D30),
    ("us-nc", "attorney-general", f"2026-06-20T{END}-04:00"),
    ("us-nc", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    ("us-nd", "owner", H24),
    ("us-nd", "residents", D30),
    ("us-nd", "attorney-general", f"2026-06-20T{END}-05:00"),
    # Ohio: 45 days
    ("us-oh", "owner", H24),
    ("us-oh", "residents", f"2026-07-16T{END}-04:00"),
    ("us-oh", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # Oklahoma (SB 626): the AG within 60 days after the residents
    ("us-ok", "owner", H24),
    ("us-ok", "residents", D30),
    ("us-ok", "attorney-general", f"2026-08-19T{END}-05:00"),
    # Oregon: vendor 10 days, consumers and AG 45 days (counted in Mountain time)
    ("us-or", "covered-entity", f"2026-06-11T{END}-06:00"),
    ("us-or", "vendor-attorney-general", f"2026-06-11T{END}-06:00"),
    ("us-or", "residents", f"2026-07-16T{END}-06:00"),
    ("us-or", "attorney-general", f"2026-07-16T{END}-06:00"),
    ("us-or", "consumer-reporting-agencies", f"2026-06-20T{END}-06:00"),
    # Pennsylvania: the AG concurrently with the residents
    ("us-pa", "entity", H24),
    ("us-pa", "residents", D30),
    ("us-pa", "attorney-general", f"2026-06-20T{END}-04:00"),
    ("us-pa", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # Rhode Island: 45 days from confirmation; before one is recorded, counted from awareness
    ("us-ri", "owner", H24),
    ("us-ri", "residents", f"2026-07-16T{END}-04:00"),
    ("us-ri", "attorney-general", f"2026-06-20T{END}-04:00"),
    ("us-ri", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    ("us-sc", "owner", H24),
    ("us-sc", "residents", D30),
    ("us-sc", "department-of-consumer-affairs", f"2026-06-20T{END}-04:00"),
    ("us-sc", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # South Dakota: 60 days
    ("us-sd", "information-holder", H24),
    ("us-sd", "residents", f"2026-07-31T{END}-05:00"),
    ("us-sd", "attorney-general", f"2026-06-20T{END}-05:00"),
    ("us-sd", "consumer-reporting-agencies", f"2026-06-20T{END}-05:00"),
    # Tennessee: 45 days, maintainer too
    ("us-tn", "owner", f"2026-07-16T{END}-04:00"),
    ("us-tn", "residents", f"2026-07-16T{END}-04:00"),
    ("us-tn", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # Texas: 60 / 30 days from the determination; before one is recorded, from awareness
    ("us-tx", "owner", H24),
    ("us-tx", "residents", f"2026-07-31T{END}-05:00"),
    ("us-tx", "attorney-general", f"2026-07-01T{END}-05:00"),
    ("us-tx", "consumer-reporting-agencies", f"2026-06-20T{END}-05:00"),
    ("us-ut", "owner", H24),
    ("us-ut", "residents", D30),
    ("us-ut", "attorney-general-and-cyber-center", f"2026-06-20T{END}-06:00"),
    ("us-ut", "consumer-reporting-agencies", f"2026-06-20T{END}-06:00"),
    # Vermont: 14 business days skip Juneteenth (Fri 19 June 2026) -> Mon 22 June
    ("us-vt", "owner", H24),
    ("us-vt", "residents", f"2026-07-16T{END}-04:00"),
    ("us-vt", "attorney-general-preliminary", f"2026-06-22T{END}-04:00"),
    ("us-vt", "attorney-general-consumer-notice", f"2026-06-20T{END}-04:00"),
    ("us-vt", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    ("us-va", "owner", H24),
    ("us-va", "residents", D30),
    ("us-va", "attorney-general", f"2026-06-20T{END}-04:00"),
    ("us-va", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # Washington: 30 calendar days, residents and AG
    ("us-wa", "owner", H24),
    ("us-wa", "residents", f"2026-07-01T{END}-07:00"),
    ("us-wa", "attorney-general", f"2026-07-01T{END}-07:00"),
    ("us-wv", "owner", H24),
    ("us-wv", "residents", D30),
    ("us-wv", "consumer-reporting-agencies", f"2026-06-20T{END}-04:00"),
    # Wisconsin: not to exceed 45 days
    ("us-wi", "owner", H24),
    ("us-wi", "residents", f"2026-07-16T{END}-05:00"),
    ("us-wi", "consumer-reporting-agencies", f"2026-06-20T{END}-05:00"),
    ("us-wy", "owner", H24),
    ("us-wy", "residents", D30),
    # Puerto Rico: DACO within a non-extendable 10 days (Atlantic time, no DST)
    ("us-pr", "proprietor", H24),
    ("us-pr", "residents", D30),
    ("us-pr", "daco", f"2026-06-11T{END}-04:00"),
    ("us-gu", "owner", H24),
    ("us-gu", "residents", D30),
    ("us-vi", "owner", H24),
    ("us-vi", "residents", D30),
]


@pytest.mark.parametrize(("jurisdiction", "obligation", "expected"), CLOCKS)
def test_clock(book: RuleBook, jurisdiction: str, obligation: str, expected: str) -> None:
    due = book[jurisdiction].obligation(obligation).due_at(AWARE, subjects_notified=NOTIFIED)
    assert due == at(expected)
    assert due.utcoffset() == timedelta(0)


def test_every_obligation_has_a_clock_case(book: RuleBook) -> None:
    covered = {(j, o) for j, o, _ in CLOCKS}
    shipped = {(j, o.id) for j in JURISDICTIONS for o in book[j].obligations}
    assert shipped == covered


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "awareness", "expected"),
    [
        # Ohio, 45 days over the November change: due at local midnight in EST (UTC-5)
        ("us-oh", "residents", "2026-10-20T14:00:00+00:00", "2026-12-05T04:59:59.999999+00:00"),
        # Washington, 30 days: 13:00 PDT on 15 Oct -> 14 Nov, PST (UTC-8)
        ("us-wa", "attorney-general", "2026-10-15T20:00:00+00:00", "2026-11-15T07:59:59.999999+00:00"),
        # Puerto Rico keeps no DST: 10 days across the mainland's change stay at UTC-4
        ("us-pr", "daco", "2026-10-28T12:00:00+00:00", "2026-11-08T03:59:59.999999+00:00"),
        # Guam: 15:00 UTC on 1 June is already 2 June there; "immediately" is still elapsed hours
        ("us-gu", "owner", "2026-06-01T15:00:00+00:00", "2026-06-02T15:00:00+00:00"),
    ],
)
def test_clocks_across_daylight_saving_and_far_zones(
    book: RuleBook, jurisdiction: str, obligation: str, awareness: str, expected: str
) -> None:
    assert book[jurisdiction].obligation(obligation).due_at(at(awareness)) == at(expected)


@pytest.mark.parametrize(
    ("obligation", "expected"),
    [
        # determined Wed 10 June 13:00 CDT: individuals by 9 Aug, the AG by 10 July
        ("residents", f"2026-08-09T{END}-05:00"),
        ("attorney-general", f"2026-07-10T{END}-05:00"),
    ],
)
def test_texas_runs_from_the_determination(book: RuleBook, obligation: str, expected: str) -> None:
    rule = book["us-tx"].obligation(obligation)
    determined = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
    assert rule.due_at(AWARE, determined) == at(expected)
    assert rule.waits_for(None) == "determination"
    assert rule.waits_for(determined) is None


def test_texas_attorney_general_over_the_march_change(book: RuleBook) -> None:
    # determined 20 Feb (CST); 30 days later is 22 March, in CDT
    rule = book["us-tx"].obligation("attorney-general")
    determined = datetime(2026, 2, 20, 18, 0, tzinfo=UTC)
    assert rule.due_at(determined, determined) == at("2026-03-23T04:59:59.999999+00:00")


def test_rhode_island_runs_from_confirmation(book: RuleBook) -> None:
    confirmed = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)
    rhode_island = book["us-ri"]
    assert rhode_island.obligation("residents").due_at(AWARE, confirmed) == at(f"2026-07-30T{END}-04:00")
    # the AG goes with the residents' notice, so before confirmation it waits too
    attorney_general = rhode_island.obligation("attorney-general")
    assert attorney_general.waits_for(None) == "determination"
    assert attorney_general.due_at(AWARE, confirmed) == at(f"2026-07-30T{END}-04:00")


def test_vermont_preliminary_notice_skips_thanksgiving(book: RuleBook) -> None:
    # Mon 16 Nov 2026: 14 business days skip Thanksgiving (26 Nov) -> Mon 7 Dec, EST
    rule = book["us-vt"].obligation("attorney-general-preliminary")
    assert rule.due_at(datetime(2026, 11, 16, 15, 0, tzinfo=UTC)) == at(f"2026-12-07T{END}-05:00")


def test_clocks_after_the_residents_notice_fall_back_to_its_deadline(book: RuleBook) -> None:
    # Not yet notified: Oklahoma's AG is due 60 days after the residents' own (policy) deadline.
    rule = book["us-ok"].obligation("attorney-general")
    assert rule.due_at(AWARE) == at(f"2026-08-30T{END}-05:00")


# ----------------------------------------------------------------------------------------------
# Thresholds: just below / at each count, safe harbours


THRESHOLDS = [
    ("us-nv", "consumer-reporting-agencies", 1000, 1001),
    ("us-nh", "consumer-reporting-agencies", 1000, 1001),
    ("us-nj", "consumer-reporting-agencies", 1000, 1001),
    ("us-nm", "attorney-general", 1000, 1001),
    ("us-nm", "consumer-reporting-agencies", 1000, 1001),
    ("us-nc", "consumer-reporting-agencies", 1000, 1001),
    ("us-nd", "attorney-general", 250, 251),
    ("us-oh", "consumer-reporting-agencies", 1000, 1001),
    ("us-ok", "attorney-general", 499, 500),
    ("us-or", "attorney-general", 250, 251),
    ("us-or", "vendor-attorney-general", 250, 251),
    ("us-or", "consumer-reporting-agencies", 1000, 1001),
    ("us-pa", "attorney-general", 500, 501),
    ("us-pa", "consumer-reporting-agencies", 500, 501),
    ("us-ri", "attorney-general", 500, 501),
    ("us-ri", "consumer-reporting-agencies", 500, 501),
    ("us-sc", "department-of-consumer-affairs", 1000, 1001),
    ("us-sc", "consumer-reporting-agencies", 1000, 1001),
    ("us-sd", "attorney-general", 250, 251),
    ("us-tn", "consumer-reporting-agencies", 1000, 1001),
    ("us-tx", "attorney-general", 249, 250),
    ("us-tx", "consumer-reporting-agencies", 10_000, 10_001),
    ("us-ut", "attorney-general-and-cyber-center", 499, 500),
    ("us-ut", "consumer-reporting-agencies", 999, 1000),
    ("us-vt", "consumer-reporting-agencies", 1000, 1001),
    ("us-va", "consumer-reporting-agencies", 1000, 1001),
    ("us-wa", "attorney-general", 500, 501),
    ("us-wv", "consumer-reporting-agencies", 1000, 1001),
    ("us-wi", "consumer-reporting-agencies", 1000, 1001),
]


@pytest.mark.parametrize(("jurisdiction", "obligation", "below", "at_count"), THRESHOLDS)
def test_count_threshold(book: RuleBook, jurisdiction: str, obligation: str, below: int, at_count: int) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.is_notifiable(Facts(affected=below, **NO_EXEMPTION)) is False
    assert rule.is_notifiable(Facts(affected=at_count, **NO_EXEMPTION)) is True
    assert rule.is_notifiable(Facts(affected=None, **NO_EXEMPTION)) is None


@pytest.mark.parametrize(
    ("jurisdiction", "obligation"),
    [
        # every breach, whatever the count
        ("us-mt", "office-of-consumer-protection"),
        ("us-ne", "attorney-general"),
        ("us-nh", "attorney-general"),
        ("us-nj", "state-police"),
        ("us-nc", "attorney-general"),
        ("us-sd", "consumer-reporting-agencies"),
        ("us-vt", "attorney-general-preliminary"),
        ("us-va", "attorney-general"),
        ("us-pr", "daco"),
    ],
)
def test_regulator_told_of_a_single_resident(book: RuleBook, jurisdiction: str, obligation: str) -> None:
    assert book[jurisdiction].obligation(obligation).is_notifiable(Facts(affected=1, **NO_EXEMPTION)) is True


# Jurisdictions whose residents' duty a documented no-harm finding lifts; in the others it does not.
HARM_EXEMPT = {
    "us-mt", "us-ne", "us-nh", "us-nj", "us-nm", "us-nc", "us-oh", "us-ok", "us-or", "us-pa",
    "us-ri", "us-sc", "us-sd", "us-ut", "us-vt", "us-va", "us-wa", "us-wv", "us-wi", "us-wy", "us-gu",
}  # fmt: skip


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_encryption_safe_harbour_and_risk_of_harm(book: RuleBook, jurisdiction: str) -> None:
    residents = book[jurisdiction].obligation("residents")
    assert residents.is_notifiable(Facts(affected=5, **NO_EXEMPTION)) is True
    assert residents.is_notifiable(Facts(affected=5, **{**NO_EXEMPTION, "encrypted": True})) is False
    harmless = residents.is_notifiable(Facts(affected=5, **{**NO_EXEMPTION, "harm_unlikely": True}))
    assert harmless is (jurisdiction not in HARM_EXEMPT)


@pytest.mark.parametrize(
    ("jurisdiction", "obligation"),
    [
        # The no-harm path itself runs through the Attorney General: the AG is still told.
        ("us-sd", "attorney-general"),
        ("us-vt", "attorney-general-preliminary"),
    ],
)
def test_no_harm_finding_still_reaches_the_attorney_general(book: RuleBook, jurisdiction: str, obligation: str) -> None:
    facts = Facts(affected=5_000, **{**NO_EXEMPTION, "harm_unlikely": True})
    assert book[jurisdiction].obligation(obligation).is_notifiable(facts) is True


# ----------------------------------------------------------------------------------------------
# Audiences and the regulators' real names

AUTHORITIES = {
    "us-mt": ["Montana Department of Justice, Office of Consumer Protection"],
    "us-ne": ["Nebraska Attorney General (Consumer Protection Division)"],
    "us-nv": [],
    "us-nh": [
        "New Hampshire Department of Justice, Office of the Attorney General (Consumer Protection and Antitrust Bureau)"
    ],
    "us-nj": [
        "New Jersey State Police, Division of State Police (NJ Cybersecurity and Communications Integration Cell)"
    ],
    "us-nm": ["New Mexico Attorney General (New Mexico Department of Justice)"],
    "us-nc": ["North Carolina Department of Justice, Consumer Protection Division (Attorney General's Office)"],
    "us-nd": ["North Dakota Attorney General (Consumer Protection and Antitrust Division)"],
    "us-oh": [],
    "us-ok": ["Oklahoma Office of the Attorney General"],
    "us-or": ["Oregon Department of Justice (Attorney General), Consumer Protection"] * 2,
    "us-pa": ["Pennsylvania Office of Attorney General"],
    "us-ri": ["Rhode Island Office of the Attorney General"],
    "us-sc": ["South Carolina Department of Consumer Affairs, Consumer Protection Division"],
    "us-sd": ["South Dakota Attorney General (Division of Consumer Protection)"],
    "us-tn": [],
    "us-tx": ["Texas Attorney General (Consumer Protection Division)"],
    "us-ut": ["Utah Office of the Attorney General and Utah Cyber Center"],
    "us-vt": ["Vermont Attorney General"] * 2,
    "us-va": ["Office of the Attorney General of Virginia (Computer Crime Section)"],
    "us-wa": ["Washington State Office of the Attorney General"],
    "us-wv": [],
    "us-wi": [],
    "us-wy": [],
    "us-pr": ["Puerto Rico Department of Consumer Affairs (Departamento de Asuntos del Consumidor, DACO)"],
    "us-gu": [],
    "us-vi": [],
}

# Jurisdictions whose statute names consumer reporting agencies.
WITH_CRAS = {
    "us-mt", "us-nv", "us-nh", "us-nj", "us-nm", "us-nc", "us-oh", "us-or", "us-pa", "us-ri",
    "us-sc", "us-sd", "us-tn", "us-tx", "us-ut", "us-vt", "us-va", "us-wv", "us-wi",
}  # fmt: skip


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_audiences_and_authority_names(book: RuleBook, jurisdiction: str) -> None:
    rules = book[jurisdiction]
    assert len(rules.obligations_for("controller")) == 1
    assert len(rules.obligations_for("data_subjects")) == 1
    names = [o.authority.name for o in rules.obligations_for("authority") if o.authority is not None]
    assert names == AUTHORITIES[jurisdiction]
    assert len(rules.obligations_for("consumer_reporting_agencies")) == (1 if jurisdiction in WITH_CRAS else 0)
    assert rules.obligations_for("media") == []


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_files_are_dated_sourced_and_cited(book: RuleBook, jurisdiction: str) -> None:
    rules = book[jurisdiction]
    assert rules.checked == date(2026, 12, 3)
    assert all(source.startswith("https://") for source in rules.sources)
    assert all(o.citation and o.clock.wording for o in rules.obligations)


# ----------------------------------------------------------------------------------------------
# Which customers each file reaches


@pytest.mark.parametrize("state", STATES + TERRITORIES)
def test_for_customer_finds_the_state(book: RuleBook, state: str) -> None:
    assert [j.id for j in book.for_customer("us", "US", state, False)] == [f"us-{state.lower()}"]
    assert [j.id for j in book.for_customer("us", "US", state, True)] == sorted(["us-hipaa", f"us-{state.lower()}"])


@pytest.mark.parametrize("territory", TERRITORIES)
def test_for_customer_finds_a_territory_filed_as_a_country(book: RuleBook, territory: str) -> None:
    jurisdiction = f"us-{territory.lower()}"
    assert [j.id for j in book.for_customer("us", territory, None, False)] == [jurisdiction]
    assert [j.id for j in book.for_customer("us", territory, territory, True)] == sorted(["us-hipaa", jurisdiction])


def test_a_state_code_is_not_a_country(book: RuleBook) -> None:
    # Canada (CA) is not California; "GU" as a state of another country is not Guam.
    assert "us-ca" not in [j.id for j in book.for_customer("us", "CA", None, False)]
    assert not [j.id for j in book.for_customer("us", "MX", "GU", False) if j.id.startswith("us-")]


# ----------------------------------------------------------------------------------------------
# HIPAA: media over 500 residents, HHS at 500 or more, the yearly log under 500


@pytest.mark.parametrize(
    ("obligation", "affected", "expected"),
    [
        ("media", 500, False),
        ("media", 501, True),
        ("hhs", 499, False),
        ("hhs", 500, True),
        ("hhs-annual-log", 10, True),
        ("hhs-annual-log", 499, True),
        ("hhs-annual-log", 500, False),
        ("hhs-annual-log", None, None),
    ],
)
def test_hipaa_thresholds(book: RuleBook, obligation: str, affected: int | None, expected: bool | None) -> None:
    rule = book["us-hipaa"].obligation(obligation)
    assert rule.is_notifiable(Facts(affected=affected, **NO_EXEMPTION)) is expected


def test_hipaa_secured_phi_needs_no_media_or_log_notice(book: RuleBook) -> None:
    for obligation in ("media", "hhs-annual-log"):
        rule = book["us-hipaa"].obligation(obligation)
        assert rule.is_notifiable(Facts(affected=10, **{**NO_EXEMPTION, "encrypted": True})) is False
        assert rule.is_notifiable(Facts(affected=10, **{**NO_EXEMPTION, "harm_unlikely": True})) is False


def test_hipaa_breach_of_ten_goes_in_the_yearly_log(book: RuleBook) -> None:
    hipaa = book["us-hipaa"]
    facts = Facts(affected=10, **NO_EXEMPTION)
    owed = [o.id for o in hipaa.obligations if o.is_notifiable(facts)]
    assert owed == ["covered-entity", "individuals", "hhs-annual-log"]
    log = hipaa.obligation("hhs-annual-log")
    assert log.audience == "authority"
    assert log.authority is not None and "Health and Human Services" in log.authority.name
    # discovered 10 May 2026: due 60 days after 31 Dec 2026, i.e. 1 Mar 2027, in EST
    assert log.due_at(datetime(2026, 5, 10, 12, 0, tzinfo=UTC)) == at(f"2027-03-01T{END}-05:00")


def test_hipaa_media_notice(book: RuleBook) -> None:
    media = book["us-hipaa"].obligation("media")
    assert media.audience == "media"
    assert media.authority is None
    # 60 calendar days after discovery, like the individuals' notice
    assert media.due_at(AWARE) == at(f"2026-07-31T{END}-04:00")
    assert media.due_at(AWARE) == book["us-hipaa"].obligation("individuals").due_at(AWARE)
