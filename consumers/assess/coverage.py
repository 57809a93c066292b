"""Whether the rule book covers a customer: the law of its country (and, in the US, its state) has a rules file.

The hosting region alone does not count (an EU-hosted customer in Texas is under Texas law too), nor does a law
that reaches only some customers of a country (HIPAA covers covered entities, not the state's residents): a
customer with neither gets no jurisdiction of its own, and its notices would be silently incomplete. A data map
says so explicitly (``no_applicable_law`` with a reason) where no breach law reaches a customer.
"""

from consumers.assess.rules import Jurisdiction, RuleBook
from runtime.datamap import Customer, CustomerCheck


def place_laws(rules: RuleBook, country: str, state: str | None) -> list[Jurisdiction]:
    """The jurisdictions whose law covers every customer of a country (and state), sorted by id."""
    return [
        j
        for j in sorted(rules.jurisdictions, key=lambda j: j.id)
        if country in j.applies_to.countries
        and (not j.applies_to.states or state in j.applies_to.states)
        and not j.applies_to.covered_entity
    ]


def _place(customer: Customer) -> tuple[str, str]:
    if customer.state:
        return "state", f"{customer.country}-{customer.state}"
    return "country", customer.country


def coverage_check(rules: RuleBook, rules_dir: str = "the rules folder") -> CustomerCheck:
    """A data-map check (see :func:`runtime.datamap.load_datamap`): a customer whose country or state no rules file
    covers is a problem unless the map says no law applies; one that says so while a rules file covers it is too."""

    def check(customer: Customer) -> list[tuple[str, str]]:
        if customer.country == "US" and customer.state is None:
            return []  # reported by the map's own check: a US customer needs its state
        field, place = _place(customer)
        laws = place_laws(rules, customer.country, customer.state)
        if not laws and not customer.no_applicable_law:
            return [
                (
                    field,
                    f"no rules file in {rules_dir} covers {place}: add one, or set no_applicable_law = true "
                    "with a no_applicable_law_reason",
                )
            ]
        if laws and customer.no_applicable_law:
            covered_by = ", ".join(j.id for j in laws)
            return [("no_applicable_law", f"{covered_by} covers {place}: remove no_applicable_law")]
        return []

    return check
