"""Breach-notice rules for Asia, the Middle East, Latin America and Africa (rules/*.toml).

Thailand, Indonesia, China, the UAE, Saudi Arabia, Israel, Turkey, Mexico, Argentina, Colombia,
Kenya and Nigeria: each clock from one awareness instant, each threshold, who is told, the
authorities' names, and that a customer of each country finds its law.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from consumers.assess.rules import Facts, Jurisdiction, RuleBook, load_rules

RULES = Path(__file__).resolve().parents[2] / "rules"
COUNTRIES = {
    "th-pdpa": "TH",
    "id-pdp": "ID",
    "cn-pipl": "CN",
    "ae-pdpl": "AE",
    "sa-pdpl": "SA",
    "il-ppl": "IL",
    "tr-kvkk": "TR",
    "mx-lfpdppp": "MX",
    "ar-pdpa": "AR",
    "co-habeas-data": "CO",
    "ke-dpa": "KE",
    "ng-ndpa": "NG",
}

# Wednesday 10 June 2026, 09:30 UTC: 16:30 in Bangkok, 04:30 in Bogotá.
AWARE = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rules(RULES)


def law(book: RuleBook, jurisdiction_id: str) -> Jurisdiction:
    return book[jurisdiction_id]


def test_every_country_loads_with_its_check_date_and_sources(book: RuleBook) -> None:
    for jurisdiction_id in COUNTRIES:
        jurisdiction = law(book, jurisdiction_id)
        assert jurisdiction.checked == date(2026, 12, 3)
        assert jurisdiction.sources
        for obligation in jurisdiction.obligations:
            assert obligation.contents, (jurisdiction_id, obligation.id)
            assert any(ch.isdigit() for ch in obligation.citation), (jurisdiction_id, obligation.id)


# ----------------------------------------------------------------------------------------------
# Clocks from AWARE


def _plus(hours: int) -> datetime:
    return AWARE + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("jurisdiction_id", "obligation_id", "audience", "kind", "basis", "due"),
    [
        # Thailand: s40(2) contract; s37(4) 72 h to the Office; subjects "without delay" (policy 72 h)
        ("th-pdpa", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("th-pdpa", "pdpc-office", "authority", "hours", "law", _plus(72)),
        ("th-pdpa", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(72)),
        # Indonesia: Art. 46 3 x 24 hours to both
        ("id-pdp", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("id-pdp", "pdp-agency", "authority", "hours", "law", _plus(72)),
        ("id-pdp", "data-subjects", "data_subjects", "hours", "law", _plus(72)),
        # China: Art. 57 "immediately" (policy 24 h); CAC Measures 4 hours for a large leak
        ("cn-pipl", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("cn-pipl", "pi-protection-departments", "authority", "without_undue_delay", "policy", _plus(24)),
        ("cn-pipl", "cac-report", "authority", "hours", "law", _plus(4)),
        ("cn-pipl", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(24)),
        # UAE: Art. 9 "immediately", period left to Executive Regulations
        ("ae-pdpl", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("ae-pdpl", "data-office", "authority", "without_undue_delay", "policy", _plus(24)),
        ("ae-pdpl", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(72)),
        # Saudi Arabia: IR Art. 24 72 h to SDAIA; subjects without undue delay
        ("sa-pdpl", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("sa-pdpl", "sdaia", "authority", "hours", "law", _plus(72)),
        ("sa-pdpl", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(72)),
        # Israel: reg 11 "immediately"
        ("il-ppl", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("il-ppl", "ppa", "authority", "without_undue_delay", "policy", _plus(24)),
        # Turkey: Decision 2019/10 72 h to the Board
        ("tr-kvkk", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("tr-kvkk", "kvkk-board", "authority", "hours", "law", _plus(72)),
        ("tr-kvkk", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(72)),
        # Mexico: Art. 19 "de forma inmediata"
        ("mx-lfpdppp", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("mx-lfpdppp", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(24)),
        # Argentina: no legal clock at all
        ("ar-pdpa", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("ar-pdpa", "aaip", "authority", "without_undue_delay", "policy", _plus(72)),
        ("ar-pdpa", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(72)),
        # Colombia: encargado by contract (the SIC's working days are tested below)
        ("co-habeas-data", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        # Kenya: s43(2) 48 h; s43(1)(a) 72 h; subjects "reasonably practical" (policy 72 h)
        ("ke-dpa", "controller", "controller", "hours", "law", _plus(48)),
        ("ke-dpa", "odpc", "authority", "hours", "law", _plus(72)),
        ("ke-dpa", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(72)),
        # Nigeria: s40(2) 72 h; s40(3) "immediately"
        ("ng-ndpa", "controller", "controller", "without_undue_delay", "contract", _plus(24)),
        ("ng-ndpa", "ndpc", "authority", "hours", "law", _plus(72)),
        ("ng-ndpa", "data-subjects", "data_subjects", "without_undue_delay", "policy", _plus(24)),
    ],
)
def test_clock(
    book: RuleBook,
    jurisdiction_id: str,
    obligation_id: str,
    audience: str,
    kind: str,
    basis: str,
    due: datetime,
) -> None:
    obligation = law(book, jurisdiction_id).obligation(obligation_id)
    assert obligation.audience == audience
    assert obligation.clock.kind == kind
    assert obligation.clock.basis == basis
    assert obligation.clock.after == "awareness"
    assert obligation.due_at(AWARE) == due


def test_hours_clocks_ignore_the_local_calendar(book: RuleBook) -> None:
    # 22:00 in Bangkok on 10 June is 15:00 UTC: 72 elapsed hours later, whatever the local day.
    late = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
    assert law(book, "th-pdpa").obligation("pdpc-office").due_at(late) == datetime(2026, 6, 13, 15, 0, tzinfo=UTC)
    assert law(book, "cn-pipl").obligation("cac-report").due_at(late) == datetime(2026, 6, 10, 19, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------------------------
# Colombia: 15 working days (hábiles) in Bogotá, skipping weekends and Colombian holidays


def test_colombia_sic_counts_working_days_over_a_weekend_and_a_holiday(book: RuleBook) -> None:
    sic = law(book, "co-habeas-data").obligation("sic")
    assert law(book, "co-habeas-data").holidays == "CO"
    assert (sic.clock.kind, sic.clock.days, sic.clock.basis) == ("working_days", 15, "law")
    # Detected Wed 10 June (04:30 Bogotá). Day 1 Thu 11, 2 Fri 12, weekend, Mon 15 June is
    # Sacred Heart (holiday), 3 Tue 16 ... 11 Fri 26, weekend, Mon 29 June is Saint Peter and
    # Saint Paul (holiday), 12 Tue 30, 13 Wed 1 July, 14 Thu 2, 15 Fri 3 July: end of that day
    # in Bogotá (UTC-5).
    assert sic.due_at(AWARE) == datetime(2026, 7, 4, 4, 59, 59, 999999, tzinfo=UTC)


def test_colombia_working_days_start_from_the_local_day(book: RuleBook) -> None:
    sic = law(book, "co-habeas-data").obligation("sic")
    # 03:00 UTC on 11 June is still 22:00 on 10 June in Bogotá: same deadline.
    assert sic.due_at(datetime(2026, 6, 11, 3, 0, tzinfo=UTC)) == datetime(2026, 7, 4, 4, 59, 59, 999999, tzinfo=UTC)
    # 05:30 UTC on 11 June is 00:30 on 11 June in Bogotá: one working day later, Mon 6 July.
    assert sic.due_at(datetime(2026, 6, 11, 5, 30, tzinfo=UTC)) == datetime(2026, 7, 7, 4, 59, 59, 999999, tzinfo=UTC)


# ----------------------------------------------------------------------------------------------
# Thresholds


@pytest.mark.parametrize(
    ("jurisdiction_id", "obligation_id", "facts", "expected"),
    [
        # Thailand: Office unless risk unlikely; subjects only for high risk
        ("th-pdpa", "pdpc-office", Facts(harm_unlikely=False), True),
        ("th-pdpa", "pdpc-office", Facts(harm_unlikely=True), False),
        ("th-pdpa", "pdpc-office", Facts(), None),
        ("th-pdpa", "data-subjects", Facts(likely_high_risk=True), True),
        ("th-pdpa", "data-subjects", Facts(likely_high_risk=False), False),
        # Indonesia: every failure of protection, even a harmless encrypted one
        ("id-pdp", "pdp-agency", Facts(harm_unlikely=True, encrypted=True), True),
        ("id-pdp", "data-subjects", Facts(), True),
        # China: authorities always; CAC report at 1,000,000 (以上 includes the number)
        ("cn-pipl", "pi-protection-departments", Facts(harm_mitigated=True, affected=3), True),
        ("cn-pipl", "cac-report", Facts(affected=999_999), False),
        ("cn-pipl", "cac-report", Facts(affected=1_000_000), True),
        ("cn-pipl", "cac-report", Facts(), None),
        ("cn-pipl", "data-subjects", Facts(harm_mitigated=True), False),
        ("cn-pipl", "data-subjects", Facts(harm_mitigated=False), True),
        # UAE: breach prejudicing privacy, confidentiality, security
        ("ae-pdpl", "data-office", Facts(harm_unlikely=False), True),
        ("ae-pdpl", "data-office", Facts(harm_unlikely=True), False),
        ("ae-pdpl", "data-subjects", Facts(harm_unlikely=True), False),
        # Saudi Arabia: may cause harm or conflict with rights
        ("sa-pdpl", "sdaia", Facts(harm_unlikely=False), True),
        ("sa-pdpl", "sdaia", Facts(harm_unlikely=True), False),
        ("sa-pdpl", "data-subjects", Facts(harm_unlikely=False), True),
        # Israel: severe incident in a medium/high level (sensitive) database
        ("il-ppl", "ppa", Facts(sensitive_data=True, unauthorised_acquisition=True), True),
        ("il-ppl", "ppa", Facts(sensitive_data=False, unauthorised_acquisition=True), False),
        ("il-ppl", "ppa", Facts(sensitive_data=True, unauthorised_acquisition=False), False),
        ("il-ppl", "ppa", Facts(sensitive_data=True), None),
        # Turkey: data obtained by others unlawfully
        ("tr-kvkk", "kvkk-board", Facts(unauthorised_acquisition=True, harm_unlikely=True), True),
        ("tr-kvkk", "kvkk-board", Facts(unauthorised_acquisition=False), False),
        ("tr-kvkk", "data-subjects", Facts(unauthorised_acquisition=True), True),
        # Mexico: significant effect on patrimonial or moral rights
        ("mx-lfpdppp", "data-subjects", Facts(significant_harm=True), True),
        ("mx-lfpdppp", "data-subjects", Facts(significant_harm=False), False),
        ("mx-lfpdppp", "data-subjects", Facts(), None),
        # Argentina (policy): AAIP unless harmless; subjects for high risk unless encrypted
        ("ar-pdpa", "aaip", Facts(harm_unlikely=True), False),
        ("ar-pdpa", "data-subjects", Facts(likely_high_risk=True, encrypted=False), True),
        ("ar-pdpa", "data-subjects", Facts(likely_high_risk=True, encrypted=True), False),
        # Colombia: every violation of the security codes
        ("co-habeas-data", "sic", Facts(harm_unlikely=True, encrypted=True), True),
        # Kenya: unauthorised access with a real risk of harm; subjects not when encrypted
        ("ke-dpa", "odpc", Facts(unauthorised_acquisition=True, harm_unlikely=False), True),
        ("ke-dpa", "odpc", Facts(unauthorised_acquisition=True, harm_unlikely=True), False),
        ("ke-dpa", "odpc", Facts(unauthorised_acquisition=False, harm_unlikely=False), False),
        ("ke-dpa", "data-subjects", Facts(unauthorised_acquisition=True, harm_unlikely=False, encrypted=False), True),
        ("ke-dpa", "data-subjects", Facts(unauthorised_acquisition=True, harm_unlikely=False, encrypted=True), False),
        # Nigeria: NDPC for a risk, subjects for a high risk
        ("ng-ndpa", "ndpc", Facts(harm_unlikely=False), True),
        ("ng-ndpa", "ndpc", Facts(harm_unlikely=True), False),
        ("ng-ndpa", "data-subjects", Facts(likely_high_risk=True), True),
        ("ng-ndpa", "data-subjects", Facts(likely_high_risk=False), False),
    ],
)
def test_threshold(
    book: RuleBook, jurisdiction_id: str, obligation_id: str, facts: Facts, expected: bool | None
) -> None:
    assert law(book, jurisdiction_id).obligation(obligation_id).is_notifiable(facts) is expected


@pytest.mark.parametrize("jurisdiction_id", sorted(COUNTRIES))
def test_processor_notice_to_the_controller_is_owed_for_every_breach(book: RuleBook, jurisdiction_id: str) -> None:
    controller = law(book, jurisdiction_id).obligations_for("controller")
    assert len(controller) == 1
    assert controller[0].is_notifiable(Facts(affected=1, harm_unlikely=True, encrypted=True)) is True


# ----------------------------------------------------------------------------------------------
# Who is told


@pytest.mark.parametrize(
    ("jurisdiction_id", "audiences"),
    [
        ("th-pdpa", {"controller", "authority", "data_subjects"}),
        ("id-pdp", {"controller", "authority", "data_subjects"}),
        ("cn-pipl", {"controller", "authority", "data_subjects"}),
        ("ae-pdpl", {"controller", "authority", "data_subjects"}),
        ("sa-pdpl", {"controller", "authority", "data_subjects"}),
        # Israel: individuals only on the Authority's order (reg 11), not a duty of its own
        ("il-ppl", {"controller", "authority"}),
        ("tr-kvkk", {"controller", "authority", "data_subjects"}),
        # Mexico: the law has the data subjects told, not the Secretaría
        ("mx-lfpdppp", {"controller", "data_subjects"}),
        ("ar-pdpa", {"controller", "authority", "data_subjects"}),
        # Colombia: the SIC; Law 1581 gives individuals no breach notice
        ("co-habeas-data", {"controller", "authority"}),
        ("ke-dpa", {"controller", "authority", "data_subjects"}),
        ("ng-ndpa", {"controller", "authority", "data_subjects"}),
    ],
)
def test_audiences(book: RuleBook, jurisdiction_id: str, audiences: set[str]) -> None:
    assert {o.audience for o in law(book, jurisdiction_id).obligations} == audiences


@pytest.mark.parametrize(
    ("jurisdiction_id", "obligation_id", "name_part"),
    [
        ("th-pdpa", "pdpc-office", "Office of the Personal Data Protection Committee"),
        ("id-pdp", "pdp-agency", "Komdigi"),
        ("cn-pipl", "pi-protection-departments", "Cyberspace Administration of China"),
        ("cn-pipl", "cac-report", "Provincial cyberspace administration"),
        ("ae-pdpl", "data-office", "UAE Data Office"),
        ("sa-pdpl", "sdaia", "Saudi Data and Artificial Intelligence Authority"),
        ("il-ppl", "ppa", "Privacy Protection Authority"),
        ("tr-kvkk", "kvkk-board", "Personal Data Protection Board"),
        ("ar-pdpa", "aaip", "Agencia de Acceso a la Información Pública"),
        ("co-habeas-data", "sic", "Superintendencia de Industria y Comercio"),
        ("ke-dpa", "odpc", "Office of the Data Protection Commissioner"),
        ("ng-ndpa", "ndpc", "Nigeria Data Protection Commission"),
    ],
)
def test_authority_names(book: RuleBook, jurisdiction_id: str, obligation_id: str, name_part: str) -> None:
    authority = law(book, jurisdiction_id).obligation(obligation_id).authority
    assert authority is not None
    assert name_part in authority.name
    assert authority.url.startswith("https://")


def test_mexico_names_the_new_authority_but_sends_it_nothing(book: RuleBook) -> None:
    mexico = law(book, "mx-lfpdppp")
    assert mexico.obligations_for("authority") == []
    assert "Secretaría Anticorrupción y Buen Gobierno" in mexico.obligation("data-subjects").notes


def test_argentina_never_claims_a_legal_clock(book: RuleBook) -> None:
    for obligation in law(book, "ar-pdpa").obligations:
        assert obligation.clock.basis in ("contract", "policy"), obligation.id
    assert "NOT a legal duty" in law(book, "ar-pdpa").obligation("aaip").notes


def test_late_notices_carry_reasons_where_the_law_asks(book: RuleBook) -> None:
    for jurisdiction_id, obligation_id in [
        ("th-pdpa", "pdpc-office"),
        ("sa-pdpl", "sdaia"),
        ("tr-kvkk", "kvkk-board"),
        ("ke-dpa", "odpc"),
    ]:
        assert "reasons_for_delay" in law(book, jurisdiction_id).obligation(obligation_id).late_contents


# ----------------------------------------------------------------------------------------------
# Customers find their law


@pytest.mark.parametrize(("jurisdiction_id", "country"), sorted(COUNTRIES.items()))
def test_for_customer_finds_each_country(book: RuleBook, jurisdiction_id: str, country: str) -> None:
    # Hosted in the US or EU region, or in Singapore: the customer's own country's law applies.
    for region in ("us", "eu", "sg"):
        found = {j.id for j in book.for_customer(region, country.lower(), None, False)}
        assert jurisdiction_id in found
        assert found & set(COUNTRIES) == {jurisdiction_id}


def test_a_customer_elsewhere_gets_none_of_these(book: RuleBook) -> None:
    found = {j.id for j in book.for_customer("eu", "DE", None, False)}
    assert not found & set(COUNTRIES)
