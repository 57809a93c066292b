"""Who an incident touches, by the kind of subprocessor that reported it.

- infrastructure: the customers hosted in the affected regions (the report's, or every region it hosts when the
  report names none);
- service: the customers using the affected features (the report's, or every feature it serves when the report
  names none);
- subcontractor: only the customers whose access grant to it overlaps the incident window;
- a report naming customer accounts: those accounts, whatever the kind.

A name the reporter does not serve (a region it does not host, a feature it does not provide: a typo, or a report
published straight to Kafka past the intake's checks) matches nothing; it never widens the report to everything.
The consumer tells on-call about such names (:func:`unserved_names`).
"""

from collections.abc import Iterable
from datetime import datetime

from runtime.datamap import Customer, DataMap, Subprocessor, SubprocessorKind, Vocabulary
from schemas import Report


def _unique(customers: Iterable[Customer]) -> list[Customer]:
    seen: dict[str, Customer] = {}
    for customer in customers:
        seen.setdefault(customer.id, customer)
    return list(seen.values())


def incident_window(report: Report) -> tuple[datetime, datetime | None]:
    """When the incident ran: its reported window, else from awareness on."""
    start = report.occurred_from or report.aware_at
    return start, report.occurred_until


def affected_customers(report: Report, subprocessor: Subprocessor, datamap: DataMap) -> list[Customer]:
    if report.customer_accounts:
        return [datamap.customers[c] for c in dict.fromkeys(report.customer_accounts) if c in datamap.customers]
    if subprocessor.kind is SubprocessorKind.INFRASTRUCTURE:
        regions = [r for r in report.regions if r in subprocessor.regions] if report.regions else subprocessor.regions
        return _unique(c for region in regions for c in datamap.in_region(region))
    if subprocessor.kind is SubprocessorKind.SERVICE:
        features = (
            [f for f in report.features if f in subprocessor.features] if report.features else subprocessor.features
        )
        return _unique(c for feature in features for c in datamap.using_feature(feature))
    start, end = incident_window(report)
    return [
        c
        for c in datamap.granting(subprocessor.id)
        if any(g.subcontractor == subprocessor.id and g.overlaps(start, end) for g in c.grants)
    ]


def data_categories(report: Report, subprocessor: Subprocessor) -> list[str]:
    """The categories the report names, else every category the subprocessor touches. An unknown category is
    kept as the reporter wrote it (it selects no one; dropping it would hide what was reported) and on-call is
    told about it (:func:`unserved_names`)."""
    return list(report.data_categories or subprocessor.data_categories)


def unserved_names(report: Report, subprocessor: Subprocessor, vocabulary: Vocabulary) -> list[str]:
    """The names in the report that match nothing: regions the reporter does not host (infrastructure),
    features it does not provide (service), and data categories the map does not know. Only the names the
    reporter's kind reads are checked: a service's report is not about regions."""
    found: list[str] = []
    if not report.customer_accounts:
        if subprocessor.kind is SubprocessorKind.INFRASTRUCTURE:
            found += [f"region {r!r}" for r in report.regions if r not in subprocessor.regions]
        elif subprocessor.kind is SubprocessorKind.SERVICE:
            found += [f"feature {f!r}" for f in report.features if f not in subprocessor.features]
    found += [f"data category {c!r}" for c in report.data_categories if c not in vocabulary.data_categories]
    return found
