"""The data map in memory, indexed by region, feature and access grant so that an assessment is lookups."""

from collections import defaultdict
from collections.abc import Iterable

from runtime.datamap.models import Customer, Subprocessor
from runtime.datamap.vocabulary import Vocabulary


class DataMap:
    def __init__(self, subprocessors: Iterable[Subprocessor], customers: Iterable[Customer]) -> None:
        self.subprocessors: dict[str, Subprocessor] = {s.id: s for s in subprocessors}
        self.customers: dict[str, Customer] = {}
        self._by_region: dict[str, list[Customer]] = defaultdict(list)
        self._by_feature: dict[str, list[Customer]] = defaultdict(list)
        self._by_grantee: dict[str, list[Customer]] = defaultdict(list)
        for customer in customers:
            self.customers[customer.id] = customer
            self._by_region[customer.region].append(customer)
            for feature in customer.features:
                self._by_feature[feature].append(customer)
            for grantee in {g.subcontractor for g in customer.grants}:
                self._by_grantee[grantee].append(customer)

    def current(self) -> "DataMap":
        """The map as it stands: this one (``runtime.datamap.live.MapSource``; a live map may change)."""
        return self

    def in_region(self, region: str) -> list[Customer]:
        return self._by_region.get(region, [])

    def using_feature(self, feature: str) -> list[Customer]:
        return self._by_feature.get(feature, [])

    def granting(self, subcontractor: str) -> list[Customer]:
        return self._by_grantee.get(subcontractor, [])

    @property
    def regions(self) -> list[str]:
        return sorted(self._by_region)

    @property
    def vocabulary(self) -> Vocabulary:
        """The names this map knows. Regions and features: those of subprocessors and customers; data
        categories: those the subprocessors touch."""
        subprocessors = self.subprocessors.values()
        return Vocabulary(
            subprocessors=frozenset(self.subprocessors),
            regions=frozenset(self._by_region).union(*(s.regions for s in subprocessors)),
            features=frozenset(self._by_feature).union(*(s.features for s in subprocessors)),
            data_categories=frozenset().union(*(s.data_categories for s in subprocessors)),
        )
