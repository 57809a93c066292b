"""Rules files outside the EU, UK and US (first batch): EEA, Switzerland, Canada and Quebec, Australia,
New Zealand, Japan, Korea, India, Brazil, South Africa, Malaysia."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from consumers.assess.rules import Facts, RuleBook, load_rules

RULES = Path(__file__).resolve().parents[2] / "rules"
WORLD_A = [
    "eea-gdpr",
    "ch-fadp",
    "ca-pipeda",
    "ca-qc-law25",
    "au-privacy",
    "nz-privacy",
    "jp-appi",
    "kr-pipa",
    "in-dpdp",
    "br-lgpd",
    "za-popia",
    "my-pdpa",
]
END = "23:59:59.999999"


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rules(RULES)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Awareness Wednesday 2026-06-10 09:30Z; determination (determination clocks only) 2026-06-11 20:00Z.
AWARE = utc("2026-06-10T09:30:00")
DETERMINED = utc("2026-06-11T20:00:00")


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "audience", "expected"),
    [
        # EEA: GDPR Art. 33(2) contract 24 h; Art. 33(1) 72 h; Art. 34 policy 72 h
        ("eea-gdpr", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("eea-gdpr", "supervisory-authority", "authority", "2026-06-13T09:30:00+00:00"),
        ("eea-gdpr", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # Switzerland: "as quickly as possible" everywhere: contract 24 h, policy 72 h
        ("ch-fadp", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("ch-fadp", "fdpic", "authority", "2026-06-13T09:30:00+00:00"),
        ("ch-fadp", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # PIPEDA: "as soon as feasible after the organization determines": policy 72 h from 06-11 20:00Z
        ("ca-pipeda", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("ca-pipeda", "opc", "authority", "2026-06-14T20:00:00+00:00"),
        ("ca-pipeda", "individuals", "data_subjects", "2026-06-14T20:00:00+00:00"),
        # Quebec: "promptly": policy 72 h from awareness
        ("ca-qc-law25", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("ca-qc-law25", "cai", "authority", "2026-06-13T09:30:00+00:00"),
        ("ca-qc-law25", "persons-concerned", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # Australia: "as soon as practicable" after the s26WH determination: policy 72 h from 06-11 20:00Z
        ("au-privacy", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("au-privacy", "oaic", "authority", "2026-06-14T20:00:00+00:00"),
        ("au-privacy", "individuals", "data_subjects", "2026-06-14T20:00:00+00:00"),
        # New Zealand: "as soon as practicable"; the Commissioner's guidance says 72 hours
        ("nz-privacy", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("nz-privacy", "privacy-commissioner", "authority", "2026-06-13T09:30:00+00:00"),
        ("nz-privacy", "affected-individuals", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # Japan: awareness 06-10 18:30 JST; final report 30 / 60 days from that day, in JST
        ("jp-appi", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("jp-appi", "ppc-preliminary", "authority", "2026-06-13T09:30:00+00:00"),
        ("jp-appi", "ppc-final", "authority", f"2026-07-10T{END}+09:00"),
        ("jp-appi", "ppc-final-wrongful-purpose", "authority", f"2026-08-09T{END}+09:00"),
        ("jp-appi", "principals", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # Korea: 72 hours to data subjects and to the PIPC / KISA (Enforcement Decree Arts. 39, 40)
        ("kr-pipa", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("kr-pipa", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        ("kr-pipa", "pipc", "authority", "2026-06-13T09:30:00+00:00"),
        # India: Board "without delay" (policy 24 h), detailed report 72 h; principals policy 72 h
        ("in-dpdp", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("in-dpdp", "board-intimation", "authority", "2026-06-11T09:30:00+00:00"),
        ("in-dpdp", "board-report", "authority", "2026-06-13T09:30:00+00:00"),
        ("in-dpdp", "data-principals", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # Brazil: 3 working days from Wednesday 06-10 (06:30 BRT): Thu 11, Fri 12, Mon 15
        ("br-lgpd", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("br-lgpd", "anpd", "authority", f"2026-06-15T{END}-03:00"),
        ("br-lgpd", "data-subjects", "data_subjects", f"2026-06-15T{END}-03:00"),
        # South Africa: operator "immediately" (contract 24 h); "as soon as reasonably possible" (policy 72 h)
        ("za-popia", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("za-popia", "information-regulator", "authority", "2026-06-13T09:30:00+00:00"),
        ("za-popia", "data-subjects", "data_subjects", "2026-06-13T09:30:00+00:00"),
        # Malaysia: Commissioner 72 h; data subjects 7 days from the day of awareness (06-10 17:30 MYT)
        ("my-pdpa", "controller", "controller", "2026-06-11T09:30:00+00:00"),
        ("my-pdpa", "commissioner", "authority", "2026-06-13T09:30:00+00:00"),
        ("my-pdpa", "data-subjects", "data_subjects", f"2026-06-17T{END}+08:00"),
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


def test_every_clock_is_covered_above(book: RuleBook) -> None:
    # A new obligation in one of these files needs its own row in the table above.
    counts = {jid: len(book[jid].obligations) for jid in WORLD_A}
    assert counts == {
        "eea-gdpr": 3,
        "ch-fadp": 3,
        "ca-pipeda": 3,
        "ca-qc-law25": 3,
        "au-privacy": 3,
        "nz-privacy": 3,
        "jp-appi": 5,
        "kr-pipa": 3,
        "in-dpdp": 4,
        "br-lgpd": 3,
        "za-popia": 3,
        "my-pdpa": 3,
    }


def test_japan_counts_days_in_japan_time(book: RuleBook) -> None:
    # 2026-06-10 16:00Z is already 06-11 01:00 in Tokyo: day 0 is the 11th.
    final = book["jp-appi"].obligation("ppc-final")
    assert final.due_at(utc("2026-06-10T16:00:00")) == datetime.fromisoformat(f"2026-07-11T{END}+09:00")


# ----------------------------------------------------------------------------------------------
# Brazil: working days skip weekends and national holidays


@pytest.mark.parametrize(
    ("awareness", "expected"),
    [
        # Thursday before Tiradentes (Tue 21 Apr 2026): Fri 17, Mon 20, (21 holiday), Wed 22
        ("2026-04-16T15:00:00", f"2026-04-22T{END}-03:00"),
        # Thursday before Good Friday 2027 (26 Mar): Mon 29, Tue 30, Wed 31
        ("2027-03-25T15:00:00", f"2027-03-31T{END}-03:00"),
        # Thursday before Carnival 2027 (8-9 Feb): Carnival is an optional day, not a national
        # holiday, so it counts: Fri 5, Mon 8, Tue 9
        ("2027-02-04T15:00:00", f"2027-02-09T{END}-03:00"),
        # Friday evening in Sao Paulo (Saturday 01:30Z): day 0 is the Friday; Mon, Tue, Wed
        ("2026-06-13T01:30:00", f"2026-06-17T{END}-03:00"),
    ],
)
def test_brazil_three_working_days(book: RuleBook, awareness: str, expected: str) -> None:
    for obligation in ("anpd", "data-subjects"):
        due = book["br-lgpd"].obligation(obligation).due_at(utc(awareness))
        assert due == datetime.fromisoformat(expected)


# ----------------------------------------------------------------------------------------------
# Australia: the s26WH assessment may take up to 30 days


def test_australia_with_a_determination_counts_from_it(book: RuleBook) -> None:
    oaic = book["au-privacy"].obligation("oaic")
    determined = utc("2026-06-20T02:00:00")
    assert oaic.due_at(AWARE, determined) == utc("2026-06-23T02:00:00")


def test_australia_without_a_determination_shows_the_latest_possible_date(book: RuleBook) -> None:
    australia = book["au-privacy"]
    for obligation in ("oaic", "individuals"):
        rule = australia.obligation(obligation)
        assert rule.clock.determination_within_days == 30
        assert rule.waits_for(None) == "determination"
        assert rule.waits_for(utc("2026-06-20T02:00:00")) is None
        # s26WH: 30 days to assess (to 07-10 09:30Z), then the 72-hour policy target.
        latest = rule.due_at(AWARE)
        assert latest == utc("2026-07-13T09:30:00")
        # Any determination inside the window gives a deadline no later than that.
        assert rule.due_at(AWARE, utc("2026-07-09T09:30:00")) < latest


def test_pipeda_without_a_determination_counts_from_awareness(book: RuleBook) -> None:
    # No bound on the determination in PIPEDA: the earliest it can be is awareness.
    opc = book["ca-pipeda"].obligation("opc")
    assert opc.clock.determination_within_days is None
    assert opc.waits_for(None) == "determination"
    assert opc.due_at(AWARE) == utc("2026-06-13T09:30:00")


# ----------------------------------------------------------------------------------------------
# Thresholds


@pytest.mark.parametrize(
    ("jurisdiction", "obligation", "facts", "expected"),
    [
        # EEA: Art. 33 unless unlikely to result in a risk; Art. 34 high risk, not encrypted
        ("eea-gdpr", "supervisory-authority", {"harm_unlikely": False}, True),
        ("eea-gdpr", "supervisory-authority", {"harm_unlikely": True}, False),
        ("eea-gdpr", "data-subjects", {"likely_high_risk": True, "encrypted": False, "harm_mitigated": False}, True),
        ("eea-gdpr", "data-subjects", {"likely_high_risk": True, "encrypted": True, "harm_mitigated": False}, False),
        # Switzerland: only a likely high risk reaches the FDPIC
        ("ch-fadp", "controller", {}, True),
        ("ch-fadp", "fdpic", {"likely_high_risk": True}, True),
        ("ch-fadp", "fdpic", {"likely_high_risk": False}, False),
        ("ch-fadp", "fdpic", {}, None),
        # PIPEDA: real risk of significant harm
        ("ca-pipeda", "opc", {"significant_harm": True}, True),
        ("ca-pipeda", "opc", {"significant_harm": False, "affected": 100000}, False),
        ("ca-pipeda", "individuals", {"significant_harm": True}, True),
        # Quebec: risk of serious injury
        ("ca-qc-law25", "cai", {"serious_harm": True}, True),
        ("ca-qc-law25", "persons-concerned", {"serious_harm": False}, False),
        # Australia: likely serious harm, unless remedial action prevents it (s26WF)
        ("au-privacy", "oaic", {"serious_harm": True, "harm_mitigated": False}, True),
        ("au-privacy", "oaic", {"serious_harm": True, "harm_mitigated": True}, False),
        ("au-privacy", "individuals", {"serious_harm": False, "harm_mitigated": False}, False),
        # New Zealand: serious harm
        ("nz-privacy", "privacy-commissioner", {"serious_harm": True}, True),
        ("nz-privacy", "affected-individuals", {"serious_harm": False}, False),
        # Japan: more than 1,000 principals, or sensitive, property damage, wrongful purpose
        (
            "jp-appi",
            "ppc-preliminary",
            {
                "affected": 1000,
                "sensitive_data": False,
                "significant_harm": False,
                "unauthorised_acquisition": False,
                "encrypted": False,
            },
            False,
        ),
        (
            "jp-appi",
            "ppc-preliminary",
            {
                "affected": 1001,
                "sensitive_data": False,
                "significant_harm": False,
                "unauthorised_acquisition": False,
                "encrypted": False,
            },
            True,
        ),
        ("jp-appi", "ppc-preliminary", {"affected": 1, "sensitive_data": True, "encrypted": False}, True),
        ("jp-appi", "ppc-preliminary", {"affected": 5000, "sensitive_data": True, "encrypted": True}, False),
        # ... a wrongful purpose moves the final report from 30 to 60 days
        ("jp-appi", "ppc-final", {"affected": 1, "unauthorised_acquisition": True, "encrypted": False}, False),
        (
            "jp-appi",
            "ppc-final-wrongful-purpose",
            {"affected": 1, "unauthorised_acquisition": True, "encrypted": False},
            True,
        ),
        ("jp-appi", "ppc-final", {"affected": 2000, "unauthorised_acquisition": False, "encrypted": False}, True),
        ("jp-appi", "ppc-final-wrongful-purpose", {"unauthorised_acquisition": False}, False),
        ("jp-appi", "principals", {"affected": 1, "sensitive_data": True, "encrypted": False}, True),
        # Korea: every leak to data subjects; the PIPC at 1,000 or more, sensitive, or hacking
        ("kr-pipa", "data-subjects", {"affected": 1}, True),
        (
            "kr-pipa",
            "pipc",
            {"affected": 1000, "sensitive_data": False, "unauthorised_acquisition": False, "harm_mitigated": False},
            True,
        ),
        (
            "kr-pipa",
            "pipc",
            {"affected": 999, "sensitive_data": False, "unauthorised_acquisition": False, "harm_mitigated": False},
            False,
        ),
        ("kr-pipa", "pipc", {"affected": 3, "unauthorised_acquisition": True, "harm_mitigated": False}, True),
        ("kr-pipa", "pipc", {"affected": 5000, "harm_mitigated": True}, False),
        # India: every personal data breach, nothing to wait for
        ("in-dpdp", "board-intimation", {}, True),
        ("in-dpdp", "board-report", {"affected": 1, "harm_unlikely": True}, True),
        ("in-dpdp", "data-principals", {"encrypted": True}, True),
        # Brazil: relevant risk or damage
        ("br-lgpd", "anpd", {"significant_harm": True}, True),
        ("br-lgpd", "data-subjects", {"significant_harm": False}, False),
        # South Africa: reasonable grounds to believe of unauthorised access or acquisition
        ("za-popia", "controller", {"unauthorised_acquisition": True}, True),
        ("za-popia", "information-regulator", {"unauthorised_acquisition": True, "affected": 1}, True),
        ("za-popia", "data-subjects", {"unauthorised_acquisition": False}, False),
        # Malaysia: significant harm, or more than 1,000 for the Commissioner alone
        ("my-pdpa", "commissioner", {"affected": 1001, "significant_harm": False}, True),
        ("my-pdpa", "commissioner", {"affected": 1000, "significant_harm": False}, False),
        ("my-pdpa", "commissioner", {"affected": 2, "significant_harm": True}, True),
        ("my-pdpa", "data-subjects", {"affected": 50000, "significant_harm": False}, False),
        ("my-pdpa", "data-subjects", {"affected": 2, "significant_harm": True}, True),
    ],
)
def test_threshold(
    book: RuleBook, jurisdiction: str, obligation: str, facts: dict[str, Any], expected: bool | None
) -> None:
    rule = book[jurisdiction].obligation(obligation)
    assert rule.is_notifiable(Facts.model_validate(facts)) is expected


# ----------------------------------------------------------------------------------------------
# Audiences, authorities, citations, sources


def test_every_jurisdiction_tells_controller_authority_and_data_subjects(book: RuleBook) -> None:
    for jid in WORLD_A:
        jurisdiction = book[jid]
        audiences = {o.audience for o in jurisdiction.obligations}
        assert audiences == {"controller", "authority", "data_subjects"}, jid
        controller = jurisdiction.obligations_for("controller")
        assert len(controller) == 1 and controller[0].threshold.none_of == [], jid
        assert jurisdiction.checked == date(2026, 12, 3), jid
        assert all(o.citation and o.contents for o in jurisdiction.obligations), jid


@pytest.mark.parametrize(
    ("jurisdiction", "names"),
    [
        ("eea-gdpr", {"Datatilsynet (Norway), Persónuvernd (Iceland) or Datenschutzstelle (Liechtenstein)"}),
        ("ch-fadp", {"Federal Data Protection and Information Commissioner (FDPIC)"}),
        ("ca-pipeda", {"Office of the Privacy Commissioner of Canada (OPC)"}),
        ("ca-qc-law25", {"Commission d'accès à l'information du Québec (CAI)"}),
        ("au-privacy", {"Office of the Australian Information Commissioner (OAIC)"}),
        ("nz-privacy", {"Office of the Privacy Commissioner (New Zealand)"}),
        ("jp-appi", {"Personal Information Protection Commission (PPC)"}),
        ("kr-pipa", {"Personal Information Protection Commission (PIPC) or Korea Internet & Security Agency (KISA)"}),
        ("in-dpdp", {"Data Protection Board of India"}),
        ("br-lgpd", {"Autoridade Nacional de Proteção de Dados (ANPD)"}),
        ("za-popia", {"Information Regulator (South Africa)"}),
        ("my-pdpa", {"Personal Data Protection Commissioner (Malaysia)"}),
    ],
)
def test_authority_names(book: RuleBook, jurisdiction: str, names: set[str]) -> None:
    authorities = [o.authority for o in book[jurisdiction].obligations_for("authority")]
    assert {a.name for a in authorities if a is not None} == names


def test_brazil_counts_working_days_on_brazilian_holidays(book: RuleBook) -> None:
    brazil = book["br-lgpd"]
    assert brazil.holidays == "BR"
    assert {o.clock.kind for o in brazil.obligations if o.audience != "controller"} == {"working_days"}


# ----------------------------------------------------------------------------------------------
# Who is covered


@pytest.mark.parametrize(
    ("region", "country", "state", "present", "absent"),
    [
        ("eu", "NO", None, {"eea-gdpr"}, set()),
        ("us", "IS", None, {"eea-gdpr"}, {"eu-gdpr"}),  # one GDPR, not two
        ("us", "LI", None, {"eea-gdpr"}, {"eu-gdpr"}),
        ("eu", "CH", None, {"ch-fadp"}, {"eea-gdpr"}),
        ("us", "CA", "ON", {"ca-pipeda"}, {"ca-qc-law25"}),
        ("us", "CA", "QC", {"ca-pipeda", "ca-qc-law25"}, set()),
        ("us", "CA", None, {"ca-pipeda"}, {"ca-qc-law25"}),
        ("us", "AU", None, {"au-privacy"}, set()),
        ("sg", "NZ", None, {"nz-privacy"}, {"au-privacy"}),
        ("us", "JP", None, {"jp-appi"}, set()),
        ("us", "KR", None, {"kr-pipa"}, set()),
        ("us", "IN", None, {"in-dpdp"}, set()),
        ("us", "BR", None, {"br-lgpd"}, set()),
        ("eu", "ZA", None, {"za-popia"}, set()),
        ("sg", "MY", None, {"my-pdpa"}, set()),
        ("us", "US", "QC", set(), {"ca-qc-law25", "ca-pipeda"}),
    ],
)
def test_for_customer_finds_each_country(
    book: RuleBook, region: str, country: str, state: str | None, present: set[str], absent: set[str]
) -> None:
    found = {j.id for j in book.for_customer(region, country, state, False)}
    assert present <= found
    assert not (absent & found)
