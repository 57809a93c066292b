"""Who an incident touches, by the kind of subprocessor that reported it.

- infrastructure: the customers hosted in the affected regions (the report's, else every region it hosts);
- service: the customers using the affected features (the report's, else every feature it serves);
- subcontractor: only the customers whose access grant to it overlaps the incident window;
- a report naming customer accounts: those accounts, whatever the kind.
"""

from collections.abc import Iterable
from datetime import datetime

from runtime.datamap import Customer, DataMap, Subprocessor, SubprocessorKind
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
        regions = [r for r in report.regions if r in subprocessor.regions] or subprocessor.regions
        return _unique(c for region in regions for c in datamap.in_region(region))
    if subprocessor.kind is SubprocessorKind.SERVICE:
        features = [f for f in report.features if f in subprocessor.features] or subprocessor.features
        return _unique(c for feature in features for c in datamap.using_feature(feature))
    start, end = incident_window(report)
    return [
        c
        for c in datamap.granting(subprocessor.id)
        if any(g.subcontractor == subprocessor.id and g.overlaps(start, end) for g in c.grants)
    ]


def data_categories(report: Report, subprocessor: Subprocessor) -> list[str]:
    """The categories the report names, else every category the subprocessor touches."""
    return list(report.data_categories or subprocessor.data_categories)
