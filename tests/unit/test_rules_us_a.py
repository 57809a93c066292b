"""US state breach-notice rules, Alabama to Missouri (rules/us-<state>.toml).

Each case below is read from the statute the file cites: the clock each audience gets, the
thresholds (regulator and consumer reporting agency counts, encryption safe harbour, risk-of-harm
exemption), who is told, and that a customer in the state is matched to the state's law.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from consumers.assess.rules import Facts, RuleBook, load_rules

RULES = Path(__file__).resolve().parents[2] / "rules"
STATES = [
    "AL", "AK", "AZ", "AR", "CT", "DE", "DC", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO",
]  # fmt: skip
END = "23:59:59.999999"


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rules(RULES)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ----------------------------------------------------------------------------------------------
# Clocks. Awareness Wed 2026-06-10 09:30Z; determination 2026-06-11 20:00Z (used only by clocks the
# law runs from a determination). Clocks that run from the residents' notice count from the
# residents' own deadline, as no notice has gone out yet.

AWARE = utc("2026-06-10T09:30:00")
DETERMINED = utc("2026-06-11T20:00:00")
DAY = "2026-06-11T09:30:00+00:00"  # 24 hours (contract) after awareness
MONTH = "2026-07-10T09:30:00+00:00"  # 720 hours (policy) after awareness

CLOCKS = [
    # Alabama 8-38-5/6/8: agent 10 days, individuals and AG 45 days, from the determination (CDT)
    ("us-al", "covered-entity", "controller", f"2026-06-21T{END}-05:00"),
    ("us-al", "individuals", "data_subjects", f"2026-07-26T{END}-05:00"),
    ("us-al", "attorney-general", "authority", f"2026-07-26T{END}-05:00"),
    ("us-al", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-26T{END}-05:00"),
    # Alaska 45.48.010/040: no day count; AG only for a no-harm decision
    ("us-ak", "owner", "controller", DAY),
    ("us-ak", "residents", "data_subjects", MONTH),
    ("us-ak", "attorney-general-no-harm", "authority", MONTH),
    ("us-ak", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-08:00"),
    # Arizona 18-552: 45 days after the determination, Phoenix keeps MST all year
    ("us-az", "owner", "controller", DAY),
    ("us-az", "individuals", "data_subjects", f"2026-07-26T{END}-07:00"),
    ("us-az", "attorney-general", "authority", f"2026-07-26T{END}-07:00"),
    ("us-az", "homeland-security", "authority", f"2026-07-26T{END}-07:00"),
    ("us-az", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-26T{END}-07:00"),
    # Arkansas 4-110-105: AG at the same time as residents
    ("us-ar", "owner", "controller", DAY),
    ("us-ar", "residents", "data_subjects", MONTH),
    ("us-ar", "attorney-general", "authority", f"2026-07-10T{END}-05:00"),
    # Connecticut 36a-701b: 60 days after discovery; AG not later than residents
    ("us-ct", "owner", "controller", DAY),
    ("us-ct", "residents", "data_subjects", f"2026-08-09T{END}-04:00"),
    ("us-ct", "attorney-general", "authority", f"2026-08-09T{END}-04:00"),
    # Delaware 12B-102: 60 days after the determination
    ("us-de", "owner", "controller", DAY),
    ("us-de", "residents", "data_subjects", f"2026-08-10T{END}-04:00"),
    ("us-de", "attorney-general", "authority", f"2026-08-10T{END}-04:00"),
    # District of Columbia 28-3852: OAG no later than residents
    ("us-dc", "owner", "controller", DAY),
    ("us-dc", "residents", "data_subjects", MONTH),
    ("us-dc", "attorney-general", "authority", f"2026-07-10T{END}-04:00"),
    ("us-dc", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-04:00"),
    # Georgia 10-1-912: 24 hours in the law for the maintainer
    ("us-ga", "owner", "controller", DAY),
    ("us-ga", "residents", "data_subjects", MONTH),
    ("us-ga", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-04:00"),
    # Hawaii 487N-2: the residents' deadline is still 9 July in Honolulu
    ("us-hi", "owner", "controller", DAY),
    ("us-hi", "affected-persons", "data_subjects", MONTH),
    ("us-hi", "office-of-consumer-protection", "authority", f"2026-07-09T{END}-10:00"),
    ("us-hi", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-09T{END}-10:00"),
    # Idaho 28-51-105
    ("us-id", "owner", "controller", DAY),
    ("us-id", "residents", "data_subjects", MONTH),
    # Illinois 530/10: AG no later than consumers
    ("us-il", "owner", "controller", DAY),
    ("us-il", "residents", "data_subjects", MONTH),
    ("us-il", "attorney-general", "authority", f"2026-07-10T{END}-05:00"),
    # Indiana 24-4.9-3-3: every notice within 45 days of discovery
    ("us-in", "owner", "controller", f"2026-07-25T{END}-04:00"),
    ("us-in", "residents", "data_subjects", f"2026-07-25T{END}-04:00"),
    ("us-in", "attorney-general", "authority", f"2026-07-25T{END}-04:00"),
    ("us-in", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-25T{END}-04:00"),
    # Iowa 715C.2(8): five business days after consumers (Fri 10 July -> Fri 17 July)
    ("us-ia", "owner", "controller", DAY),
    ("us-ia", "consumers", "data_subjects", MONTH),
    ("us-ia", "attorney-general", "authority", f"2026-07-17T{END}-05:00"),
    # Kansas 50-7a02
    ("us-ks", "owner", "controller", DAY),
    ("us-ks", "residents", "data_subjects", MONTH),
    ("us-ks", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-05:00"),
    # Kentucky 365.732
    ("us-ky", "owner", "controller", DAY),
    ("us-ky", "residents", "data_subjects", MONTH),
    ("us-ky", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-04:00"),
    # Louisiana 51:3074(E): 60 days from discovery; LAC 16:III.701: AG 10 days after residents
    ("us-la", "owner", "controller", f"2026-08-09T{END}-05:00"),
    ("us-la", "residents", "data_subjects", f"2026-08-09T{END}-05:00"),
    ("us-la", "attorney-general", "authority", f"2026-08-19T{END}-05:00"),
    # Maine 1348: 30 days after awareness and scope (the determination)
    ("us-me", "owner", "controller", DAY),
    ("us-me", "residents", "data_subjects", f"2026-07-11T{END}-04:00"),
    ("us-me", "attorney-general", "authority", f"2026-07-11T{END}-04:00"),
    ("us-me", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-11T{END}-04:00"),
    # Maryland 14-3504: maintainer 10 days, individuals 45 days, from discovery; AG before them
    ("us-md", "owner", "controller", f"2026-06-20T{END}-04:00"),
    ("us-md", "individuals", "data_subjects", f"2026-07-25T{END}-04:00"),
    ("us-md", "attorney-general", "authority", f"2026-07-25T{END}-04:00"),
    ("us-md", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-25T{END}-04:00"),
    # Massachusetts 93H s3
    ("us-ma", "owner", "controller", DAY),
    ("us-ma", "residents", "data_subjects", MONTH),
    ("us-ma", "attorney-general", "authority", f"2026-07-10T{END}-04:00"),
    ("us-ma", "ocabr", "authority", f"2026-07-10T{END}-04:00"),
    ("us-ma", "consumer-reporting-agencies", "consumer_reporting_agencies", MONTH),
    # Michigan 445.72
    ("us-mi", "owner", "controller", DAY),
    ("us-mi", "residents", "data_subjects", MONTH),
    ("us-mi", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-04:00"),
    # Minnesota 325E.61: consumer reporting agencies within 48 hours
    ("us-mn", "owner", "controller", DAY),
    ("us-mn", "residents", "data_subjects", MONTH),
    ("us-mn", "consumer-reporting-agencies", "consumer_reporting_agencies", "2026-06-13T20:00:00+00:00"),
    # Mississippi 75-24-29
    ("us-ms", "owner", "controller", DAY),
    ("us-ms", "individuals", "data_subjects", MONTH),
    # Missouri 407.1500
    ("us-mo", "owner", "controller", DAY),
    ("us-mo", "consumers", "data_subjects", MONTH),
    ("us-mo", "attorney-general", "authority", f"2026-07-10T{END}-05:00"),
    ("us-mo", "consumer-reporting-agencies", "consumer_reporting_agencies", f"2026-07-10T{END}-05:00"),
]


@pytest.mark.parametrize(("jurisdiction", "obligation", "audience", "expected"), CLOCKS)
def test_clock(book: RuleBook, jurisdiction: str, obligation: str, audience: str, expected: str) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.audience == audience
    due = rule.due_at(AWARE, DETERMINED)
    assert due.tzinfo is UTC
    assert due == datetime.fromisoformat(expected)


def test_every_obligation_of_these_states_has_a_clock_case(book: RuleBook) -> None:
    covered = {(j, o) for j, o, _, _ in CLOCKS}
    for state in STATES:
        jurisdiction = book[f"us-{state.lower()}"]
        assert {(jurisdiction.id, o.id) for o in jurisdiction.obligations} <= covered


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "awareness", "expected_utc"),
    [
        # 45 days over the 1 Nov 2026 fall-back: 20 Oct CDT + 45 = 4 Dec, which is in CST (UTC-6)
        ("us-al", "individuals", "2026-10-20T18:00:00", "2026-12-05T05:59:59.999999"),
        ("us-al", "covered-entity", "2026-10-25T18:00:00", "2026-11-05T05:59:59.999999"),
        # Arizona keeps MST: the same 45 days end at 07:00Z, summer or winter
        ("us-az", "individuals", "2026-10-20T18:00:00", "2026-12-05T06:59:59.999999"),
        # 60 days from 15 Sep EDT end on 14 Nov EST
        ("us-ct", "residents", "2026-09-15T14:00:00", "2026-11-15T04:59:59.999999"),
        ("us-de", "residents", "2026-09-15T14:00:00", "2026-11-15T04:59:59.999999"),
        ("us-la", "residents", "2026-09-15T14:00:00", "2026-11-15T05:59:59.999999"),
        ("us-in", "residents", "2026-10-20T18:00:00", "2026-12-05T04:59:59.999999"),
        ("us-me", "residents", "2026-10-20T18:00:00", "2026-11-20T04:59:59.999999"),
        ("us-md", "individuals", "2026-10-20T18:00:00", "2026-12-05T04:59:59.999999"),
        ("us-md", "owner", "2026-10-25T18:00:00", "2026-11-05T04:59:59.999999"),
        # 8 Mar 2026 spring-forward: 20 Feb CST + 45 = 6 Apr, in CDT (UTC-5)
        ("us-al", "individuals", "2026-02-20T18:00:00", "2026-04-07T04:59:59.999999"),
    ],
)
def test_calendar_days_across_daylight_saving(
    book: RuleBook, jurisdiction: str, obligation: str, awareness: str, expected_utc: str
) -> None:
    due = book[jurisdiction].obligation(obligation).due_at(utc(awareness))
    assert due == utc(expected_utc)


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "notified", "expected_utc"),
    [
        # "not later than the time when notice is provided to the resident": by the end of that
        # local day (22:00 EDT on 30 June is still 30 June in Hartford)
        ("us-ct", "attorney-general", "2026-07-01T02:00:00", "2026-07-01T03:59:59.999999"),
        ("us-il", "attorney-general", "2026-07-01T02:00:00", "2026-07-01T04:59:59.999999"),
        # LAC 16:III.701: received within 10 days of the residents' notice
        ("us-la", "attorney-general", "2026-07-01T15:00:00", "2026-07-12T04:59:59.999999"),
        # Iowa: five business days; Fri 3 July is Independence Day observed
        ("us-ia", "attorney-general", "2026-07-02T15:00:00", "2026-07-11T04:59:59.999999"),
        # ... and Thu 12 Feb is Lincoln's Birthday, an Iowa legal holiday (Iowa Code 1C.1)
        ("us-ia", "attorney-general", "2026-02-05T15:00:00", "2026-02-14T05:59:59.999999"),
    ],
)
def test_regulator_clock_runs_from_the_residents_notice(
    book: RuleBook, jurisdiction: str, obligation: str, notified: str, expected_utc: str
) -> None:
    due = book[jurisdiction].obligation(obligation).due_at(AWARE, subjects_notified=utc(notified))
    assert due == utc(expected_utc)


@pytest.mark.parametrize(
    ("jurisdiction", "obligation"),
    [
        ("us-al", "individuals"),
        ("us-az", "individuals"),
        ("us-de", "residents"),
        ("us-me", "residents"),
        ("us-mn", "consumer-reporting-agencies"),
    ],
)
def test_determination_clocks_wait_for_the_determination(book: RuleBook, jurisdiction: str, obligation: str) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.waits_for(None) == "determination"
    assert rule.waits_for(DETERMINED) is None
    # until determined, the latest possible date counts from awareness, which is earlier
    assert rule.due_at(AWARE) < rule.due_at(AWARE, DETERMINED)


# ----------------------------------------------------------------------------------------------
# Thresholds: the counts in the statutes ("more than 1,000" = 1001, "1,000 or more" = 1000).

COUNTS = [
    ("us-al", "attorney-general", 1001),
    ("us-al", "consumer-reporting-agencies", 1001),
    ("us-ak", "consumer-reporting-agencies", 1001),
    ("us-az", "attorney-general", 1001),
    ("us-az", "homeland-security", 1001),
    ("us-az", "consumer-reporting-agencies", 1001),
    ("us-ar", "attorney-general", 1001),
    ("us-de", "attorney-general", 501),
    ("us-dc", "attorney-general", 50),
    ("us-dc", "consumer-reporting-agencies", 1001),
    ("us-ga", "consumer-reporting-agencies", 10001),
    ("us-hi", "office-of-consumer-protection", 1001),
    ("us-hi", "consumer-reporting-agencies", 1001),
    ("us-il", "attorney-general", 501),
    ("us-in", "consumer-reporting-agencies", 1001),
    ("us-ia", "attorney-general", 501),
    ("us-ks", "consumer-reporting-agencies", 1001),
    ("us-ky", "consumer-reporting-agencies", 1001),
    ("us-me", "consumer-reporting-agencies", 1001),
    ("us-md", "consumer-reporting-agencies", 1000),
    ("us-mi", "consumer-reporting-agencies", 1001),
    ("us-mn", "consumer-reporting-agencies", 501),
    ("us-mo", "attorney-general", 1001),
    ("us-mo", "consumer-reporting-agencies", 1001),
]


@pytest.mark.parametrize(("jurisdiction", "obligation", "minimum"), COUNTS)
def test_count_threshold(book: RuleBook, jurisdiction: str, obligation: str, minimum: int) -> None:
    rule = book[jurisdiction].obligation(obligation)
    clear = {"encrypted": False, "harm_unlikely": False}
    assert rule.is_notifiable(Facts(affected=minimum - 1, **clear)) is False
    assert rule.is_notifiable(Facts(affected=minimum, **clear)) is True
    assert rule.is_notifiable(Facts(affected=None, **clear)) is None
    # the encryption safe harbour holds at any count
    assert rule.is_notifiable(Facts(affected=minimum * 10, encrypted=True, harm_unlikely=False)) is False


@pytest.mark.parametrize(
    ("jurisdiction", "obligation"),
    [
        ("us-ct", "attorney-general"),
        ("us-in", "attorney-general"),
        ("us-la", "attorney-general"),
        ("us-md", "attorney-general"),
        ("us-me", "attorney-general"),
        ("us-ma", "attorney-general"),
        ("us-ma", "ocabr"),
    ],
)
def test_regulator_told_of_every_notifiable_breach(book: RuleBook, jurisdiction: str, obligation: str) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.is_notifiable(Facts(affected=1, encrypted=False, harm_unlikely=False)) is True
    assert rule.is_notifiable(Facts(affected=1, encrypted=True, harm_unlikely=False)) is False


# (data-subject obligation, whether a documented no-harm finding exempts it)
RESIDENTS = [
    ("us-al", "individuals", True),
    ("us-ak", "residents", True),
    ("us-az", "individuals", True),
    ("us-ar", "residents", True),
    ("us-ct", "residents", True),
    ("us-de", "residents", True),
    ("us-dc", "residents", True),
    ("us-ga", "residents", False),
    ("us-hi", "affected-persons", True),
    ("us-id", "residents", True),
    ("us-il", "residents", False),
    ("us-in", "residents", True),
    ("us-ia", "consumers", True),
    ("us-ks", "residents", True),
    ("us-ky", "residents", True),
    ("us-la", "residents", True),
    ("us-me", "residents", True),
    ("us-md", "individuals", True),
    ("us-ma", "residents", False),
    ("us-mi", "residents", True),
    ("us-mn", "residents", False),
    ("us-ms", "individuals", True),
    ("us-mo", "consumers", True),
]


@pytest.mark.parametrize(("jurisdiction", "obligation", "harm_exemption"), RESIDENTS)
def test_residents_safe_harbour_and_harm_exemption(
    book: RuleBook, jurisdiction: str, obligation: str, harm_exemption: bool
) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.audience == "data_subjects"
    assert rule.is_notifiable(Facts(affected=1, encrypted=False, harm_unlikely=False)) is True
    assert rule.is_notifiable(Facts(affected=1, encrypted=True, harm_unlikely=False)) is False
    assert rule.is_notifiable(Facts(affected=1, encrypted=False, harm_unlikely=True)) is (not harm_exemption)


def test_alaska_tells_the_attorney_general_only_when_relying_on_no_harm(book: RuleBook) -> None:
    rule = book["us-ak"].obligation("attorney-general-no-harm")
    assert rule.is_notifiable(Facts(affected=5, encrypted=False, harm_unlikely=True)) is True
    assert rule.is_notifiable(Facts(affected=5, encrypted=False, harm_unlikely=False)) is False
    assert rule.is_notifiable(Facts(affected=5, encrypted=False, harm_unlikely=None)) is None


# ----------------------------------------------------------------------------------------------
# Who is told, and by whom.

AUTHORITIES = {
    "AL": ["Alabama Attorney General"],
    "AK": ["Alaska Attorney General (Department of Law)"],
    "AZ": ["Arizona Attorney General", "Director of the Arizona Department of Homeland Security"],
    "AR": ["Arkansas Attorney General"],
    "CT": ["Connecticut Office of the Attorney General"],
    "DE": ["Delaware Department of Justice (Attorney General), Consumer Protection Unit"],
    "DC": ["Office of the Attorney General for the District of Columbia"],
    "GA": [],
    "HI": ["Hawaii Office of Consumer Protection (Department of Commerce and Consumer Affairs)"],
    "ID": [],
    "IL": ["Illinois Attorney General"],
    "IN": ["Indiana Attorney General (Identity Theft Unit)"],
    "IA": ["Director of the Consumer Protection Division, Office of the Iowa Attorney General"],
    "KS": [],
    "KY": [],
    "LA": ["Louisiana Department of Justice, Office of the Attorney General, Consumer Protection Section"],
    "ME": ["Maine Attorney General"],
    "MD": ["Maryland Office of the Attorney General (Identity Theft Unit)"],
    "MA": [
        "Massachusetts Attorney General's Office",
        "Director of the Massachusetts Office of Consumer Affairs and Business Regulation",
    ],
    "MI": [],
    "MN": [],
    "MS": [],
    "MO": ["Missouri Attorney General's Office"],
}
WITH_CRAS = {"AL", "AK", "AZ", "DC", "GA", "HI", "IN", "KS", "KY", "ME", "MD", "MA", "MI", "MN", "MO"}


@pytest.mark.parametrize("state", STATES)
def test_audiences_and_authority_names(book: RuleBook, state: str) -> None:
    jurisdiction = book[f"us-{state.lower()}"]
    audiences = {o.audience for o in jurisdiction.obligations}
    expected = {"controller", "data_subjects"}
    if AUTHORITIES[state]:
        expected.add("authority")
    if state in WITH_CRAS:
        expected.add("consumer_reporting_agencies")
    assert audiences == expected
    assert len(jurisdiction.obligations_for("data_subjects")) == 1
    names = [o.authority.name for o in jurisdiction.obligations_for("authority") if o.authority]
    assert names == AUTHORITIES[state]


@pytest.mark.parametrize("state", STATES)
def test_file_is_dated_sourced_and_cited(book: RuleBook, state: str) -> None:
    jurisdiction = book[f"us-{state.lower()}"]
    assert jurisdiction.checked == date(2026, 12, 3)
    assert all(source.startswith("https://") for source in jurisdiction.sources)
    header = (RULES / f"{jurisdiction.id}.toml").read_text(encoding="utf-8").split("\nid = ")[0]
    for obligation in jurisdiction.obligations:
        # the citation names a section number, and the header comment names that section
        section = re.search(r"\d+[A-Za-z]?(?:[-.:]\d+[A-Za-z]?)*", obligation.citation)
        assert section is not None, obligation.citation
        assert section.group(0) in header, (jurisdiction.id, obligation.citation)


@pytest.mark.parametrize("state", STATES)
def test_customer_in_the_state_gets_its_law(book: RuleBook, state: str) -> None:
    state_laws = re.compile(r"^us-[a-z]{2}$")
    found = [j.id for j in book.for_customer("us", "US", state, covered_entity=False)]
    assert [i for i in found if state_laws.match(i)] == [f"us-{state.lower()}"]
    # codes are normalised, and hosting elsewhere does not change whose law it is
    assert f"us-{state.lower()}" in [j.id for j in book.for_customer("eu", "us", state.lower(), covered_entity=True)]


def test_a_customer_elsewhere_does_not_get_these_laws(book: RuleBook) -> None:
    found = {j.id for j in book.for_customer("us", "US", "CA", covered_entity=False)}
    assert not found & {f"us-{s.lower()}" for s in STATES}
    assert not {j.id for j in book.for_customer("eu", "DE", None, covered_entity=False)} & {
        f"us-{s.lower()}" for s in STATES
    }
