"""What the data map knows by name: a report naming anything else is refused, never widened to everything.

A region, feature or data category the map does not know is most often a typo ("eu-west" for "eu"), and the
assessor reads an empty list as "all of them": refusing at the door is the only answer that cannot touch the
wrong customers, or none at all, without anybody noticing.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from schemas import Report


@dataclass(frozen=True)
class Unknown:
    """One name a report gives that the map does not know; ``field`` is its path in the report."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class UnknownNames(ValueError):
    """A report names regions, features or data categories the data map does not know."""

    def __init__(self, unknown: list[Unknown]) -> None:
        self.unknown = unknown
        super().__init__("; ".join(str(u) for u in unknown))


@dataclass(frozen=True)
class Vocabulary:
    """The names of a data map: subprocessor ids, regions, features and data categories."""

    subprocessors: frozenset[str]
    regions: frozenset[str]
    features: frozenset[str]
    data_categories: frozenset[str]

    def unknown_in(self, report: Report, prefix: str = "") -> list[Unknown]:
        """Each region, feature and data category of ``report`` that the map does not know, by field path
        (``prefix`` names where the report sits, e.g. ``report``)."""
        lead = f"{prefix}." if prefix else ""
        found: list[Unknown] = []
        for name, values, known, what in (
            ("regions", report.regions, self.regions, "region"),
            ("features", report.features, self.features, "feature"),
            ("data_categories", report.data_categories, self.data_categories, "data category"),
        ):
            for i, value in enumerate(values):
                if value not in known:
                    found.append(
                        Unknown(f"{lead}{name}[{i}]", f"unknown {what} {value!r}; the data map knows {_list(known)}")
                    )
        return found

    def require_known(self, report: Report, prefix: str = "") -> None:
        """Raise :class:`UnknownNames` when the report names anything the map does not know."""
        unknown = self.unknown_in(report, prefix)
        if unknown:
            raise UnknownNames(unknown)


def _list(names: Iterable[str]) -> str:
    ordered = sorted(names)
    return ", ".join(ordered) if ordered else "none"
