"""What one report means for one customer: its jurisdictions, the people affected, and every legal clock.

Clocks run from the reporter's awareness (``report.aware_at``), the earliest moment anyone in the chain knew:
NPC Circular 16-03 counts the processor's knowledge as the controller's, and for the other laws counting from
it can only make a deadline earlier. Clocks the law runs from a determination (PDPA s26D, CRS 6-1-716, ...) use
the report's ``determinations`` for their jurisdiction; without one they wait for it (``Deadline.waiting_for``)
and show their latest possible date (see ``Obligation.due_at``).

The number of people affected at one customer is not reported per customer. The customer's own number of data
subjects and the report's approximate number are both upper bounds of it; the smaller known one is used, which
errs towards notifying when a threshold (500 people, ...) is near.

A region-wide incident assesses hundreds of thousands of customers with the same few combinations of
jurisdictions, so the jurisdictions are looked up once per (region, country, state, covered entity), each due
time is computed once per report, and customers alike in jurisdictions and in how their number of people
compares with the rules' thresholds share one (frozen) list of deadlines.
"""

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime

from consumers.assess.rules import Facts, Jurisdiction, Obligation, RuleBook
from runtime.datamap import Customer
from schemas import Audience, Deadline, Report


@dataclass(frozen=True)
class CustomerAssessment:
    customer: Customer
    jurisdictions: list[Jurisdiction]
    affected_people: int | None
    deadlines: list[Deadline]
    """One per (jurisdiction, obligation): ours to the controller first, then the controller's own."""
    controller_clocks: list[Deadline]
    """The controller's own clocks: when it must tell its authority and its data subjects (shared, like
    ``deadlines``, by customers alike, so a notice builder encodes each list once)."""
    authority_filings: list[tuple[Jurisdiction, Obligation, Deadline]] = field(default_factory=list)
    """The authority reports the processor files for this controller (its contract says so)."""

    @property
    def jurisdiction_ids(self) -> list[str]:
        return [j.id for j in self.jurisdictions]


def affected_people(report: Report, customer: Customer) -> int | None:
    """The smaller known upper bound of the people affected at this customer; None when neither is known."""
    known = [n for n in (customer.data_subjects, report.approx_data_subjects) if n is not None]
    return min(known) if known else None


class Assessor:
    """Assesses the customers of one report; build one per report (its clocks depend on the report)."""

    def __init__(self, rules: RuleBook, report: Report) -> None:
        self._rules = rules
        self._report = report
        # Thresholds only compare the number of people with these counts: customers on the same side of every
        # one of them, under the same jurisdictions, get the same deadlines.
        self._counts = sorted(
            {
                n
                for j in rules.jurisdictions
                for o in j.obligations
                for n in (o.threshold.min_affected, o.threshold.or_min_affected)
                if n is not None
            }
        )
        self._jurisdictions: dict[tuple[str, str, str | None, bool], list[Jurisdiction]] = {}
        self._clocks: dict[tuple[tuple[str, ...], int | None], _Clocks] = {}
        self._due: dict[tuple[str, str], datetime] = {}

    def assess(self, customer: Customer) -> CustomerAssessment:
        jurisdictions = self.jurisdictions(customer)
        people = affected_people(self._report, customer)
        band = None if people is None else bisect_right(self._counts, people)
        key = (tuple(j.id for j in jurisdictions), band)
        clocks = self._clocks.get(key)
        if clocks is None:
            clocks = self._clocks[key] = self._compute(jurisdictions, Facts(affected=people))
        filings = clocks.authority if customer.authority_filing else []
        return CustomerAssessment(customer, jurisdictions, people, clocks.deadlines, clocks.controller, filings)

    def jurisdictions(self, customer: Customer) -> list[Jurisdiction]:
        key = (customer.region, customer.country, customer.state, customer.covered_entity)
        found = self._jurisdictions.get(key)
        if found is None:
            found = self._jurisdictions[key] = self._rules.for_customer(*key)
        return found

    def clocks(self, jurisdictions: list[Jurisdiction], affected: int | None) -> list[Deadline]:
        """Every clock these jurisdictions start for this report, ours to the controller first, when ``affected``
        people are affected: for a recipient outside the data map (an authority, on-call)."""
        return self._compute(jurisdictions, Facts(affected=affected)).deadlines

    def _compute(self, jurisdictions: list[Jurisdiction], facts: Facts) -> "_Clocks":
        deadlines: list[Deadline] = []
        authority: list[tuple[Jurisdiction, Obligation, Deadline]] = []
        for jurisdiction in jurisdictions:
            for obligation in _ours_first(jurisdiction.obligations):
                deadline = Deadline(
                    jurisdiction=jurisdiction.id,
                    audience=obligation.audience,
                    obligation=obligation.id,
                    due_at=self._due_at(jurisdiction, obligation),
                    citation=obligation.citation,
                    notifiable=obligation.is_notifiable(facts),
                    waiting_for=obligation.waits_for(self._report.determinations.get(jurisdiction.id)),
                )
                deadlines.append(deadline)
                # The processor files only what the facts do not rule out (and only where the contract says so).
                if obligation.audience is Audience.AUTHORITY and deadline.notifiable is not False:
                    authority.append((jurisdiction, obligation, deadline))
        return _Clocks(deadlines, authority, [d for d in deadlines if d.audience is not Audience.CONTROLLER])

    def _due_at(self, jurisdiction: Jurisdiction, obligation: Obligation) -> datetime:
        key = (jurisdiction.id, obligation.id)
        due = self._due.get(key)
        if due is None:
            determination = self._report.determinations.get(jurisdiction.id)
            due = self._due[key] = obligation.due_at(self._report.aware_at, determination)
        return due


@dataclass(frozen=True)
class _Clocks:
    deadlines: list[Deadline]
    authority: list[tuple[Jurisdiction, Obligation, Deadline]]
    controller: list[Deadline]


def _ours_first(obligations: list[Obligation]) -> list[Obligation]:
    return sorted(obligations, key=lambda o: o.audience is not Audience.CONTROLLER)
