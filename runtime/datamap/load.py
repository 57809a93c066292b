"""Reading a data map folder; every problem names the file, the line and the field, and says what is wrong."""

import csv
import gc
import json
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.datamap.index import DataMap
from runtime.datamap.models import Customer, Subprocessor, SubprocessorKind, compact
from runtime.validation import field_errors

# Columns of a customers CSV whose cells hold several values, separated by ";".
CSV_LIST_COLUMNS = ("features", "admin_emails")
# A grant cell: "subcontractor|valid_from|valid_until" entries separated by ";" (valid_until may be empty).
CSV_GRANT_COLUMN = "grants"
# Yes/no columns: true/false, yes/no or 1/0; anything else is left for validation to refuse, naming the field.
CSV_BOOL_COLUMNS = ("covered_entity", "authority_filing", "no_applicable_law")
_CSV_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


CustomerCheck = Callable[[Customer], list[tuple[str, str]]]
"""A check of one customer against the rest of the map: (field, message) for each problem found."""


def _csv_bool(cell: str) -> bool | str:
    return _CSV_BOOLS.get(cell.strip().lower(), cell)


@dataclass(frozen=True)
class MapProblem:
    file: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else str(self.file)
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DataMapError(ValueError):
    """The data map has problems; ``problems`` lists each one, ``str()`` prints one per line."""

    def __init__(self, problems: list[MapProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _problems(file: Path, line: int | None, error: ValidationError, prefix: str = "") -> list[MapProblem]:
    return [MapProblem(file, line, path or None, message) for path, message in field_errors(error, prefix)]


def load_subprocessors(path: Path) -> list[Subprocessor]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataMapError([MapProblem(path, getattr(exc, "lineno", None), None, str(exc))]) from None
    except OSError as exc:
        raise DataMapError([MapProblem(path, None, None, exc.strerror or str(exc))]) from None
    problems: list[MapProblem] = []
    result: list[Subprocessor] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("subprocessors", [])):
        try:
            sub = Subprocessor.model_validate(raw)
        except ValidationError as exc:
            problems += _problems(path, None, exc, f"subprocessors[{i}]")
            continue
        if sub.id in seen:
            problems.append(MapProblem(path, None, f"subprocessors[{i}].id", f"duplicate id {sub.id!r}"))
        seen.add(sub.id)
        result.append(sub)
    if problems:
        raise DataMapError(problems)
    return result


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            cleaned: dict[str, Any] = {k: v for k, v in row.items() if k is not None and v not in ("", None)}
            if None in row:
                cleaned["__extra__"] = row[None]
            for column in CSV_LIST_COLUMNS:
                if column in cleaned:
                    cleaned[column] = [v.strip() for v in cleaned[column].split(";") if v.strip()]
            if CSV_GRANT_COLUMN in cleaned:
                grants = []
                for entry in cleaned[CSV_GRANT_COLUMN].split(";"):
                    parts = [p.strip() for p in entry.split("|")]
                    grants.append(
                        {
                            "subcontractor": parts[0],
                            "valid_from": parts[1] if len(parts) > 1 else None,
                            "valid_until": (parts[2] or None) if len(parts) > 2 else None,
                        }
                    )
                cleaned[CSV_GRANT_COLUMN] = grants
            for column in CSV_BOOL_COLUMNS:
                if column in cleaned:
                    cleaned[column] = _csv_bool(cleaned[column])
            yield reader.line_num, cleaned


def _jsonl_rows(path: Path, problems: list[MapProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(MapProblem(path, number, None, f"not JSON: {exc.msg} at column {exc.colno}"))
                continue
            if not isinstance(value, dict):
                problems.append(MapProblem(path, number, None, "a line must hold one JSON object"))
                continue
            yield number, value


def load_customers(path: Path, check: CustomerCheck | None = None) -> list[Customer]:
    """Customers from one CSV or JSON Lines file; raises DataMapError listing every bad line and field (``check``
    adds the problems it finds with each customer, by line)."""
    # Loading creates millions of objects that all live on; the cyclic collector would scan them again and
    # again for nothing (none of them forms a cycle), so it pauses while a file loads, and the loaded objects
    # are then frozen out of its sight: at 1,000,000 customers one later scan of them costs seconds.
    paused = gc.isenabled()
    gc.disable()
    try:
        customers = _load_customers(path, check)
        gc.freeze()
        return customers
    finally:
        if paused:
            gc.enable()


def _load_customers(path: Path, check: CustomerCheck | None) -> list[Customer]:
    problems: list[MapProblem] = []
    customers: list[Customer] = []
    seen: dict[str, int] = {}
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise DataMapError([MapProblem(path, None, None, "customers come as .csv or .jsonl")])
    try:
        rows = _csv_rows(path) if suffix == ".csv" else _jsonl_rows(path, problems)
        for line, raw in rows:
            if "__extra__" in raw:
                problems.append(MapProblem(path, line, None, "more cells than the header has columns"))
                continue
            try:
                customer = Customer.model_validate(raw)
            except ValidationError as exc:
                problems += _problems(path, line, exc)
                continue
            if customer.id in seen:
                problems.append(
                    MapProblem(path, line, "id", f"duplicate id {customer.id!r} (first on line {seen[customer.id]})")
                )
                continue
            seen[customer.id] = line
            if check is not None:
                problems += [MapProblem(path, line, field, message) for field, message in check(customer)]
            compact(customer)
            for grant in customer.grants:
                compact(grant)
            customers.append(customer)
    except OSError as exc:
        problems.append(MapProblem(path, None, None, exc.strerror or str(exc)))
    except UnicodeDecodeError as exc:
        problems.append(MapProblem(path, None, None, f"not UTF-8 text: {exc.reason}"))
    if problems:
        raise DataMapError(problems)
    return customers


def customer_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("customers") and p.suffix in (".csv", ".jsonl"))


def map_check(subprocessors: list[Subprocessor]) -> CustomerCheck:
    """What one customer must agree with in the subprocessors: without it, an incident would silently miss it.

    Its region hosted by an infrastructure subprocessor, each feature provided by a subprocessor, grants naming
    subcontractors only, and a US customer's state (the state's breach law follows it)."""
    kinds = {s.id: s.kind for s in subprocessors}
    contractor = SubprocessorKind.SUBCONTRACTOR
    hosted = {r for s in subprocessors if s.kind is SubprocessorKind.INFRASTRUCTURE for r in s.regions}
    provided = {f for s in subprocessors for f in s.features}

    def check(customer: Customer) -> list[tuple[str, str]]:
        # A million customers pass here at every load: the common case, nothing wrong, allocates nothing.
        if (
            customer.region in hosted
            and provided.issuperset(customer.features)
            and (customer.state is not None or customer.country != "US")
            and (not customer.grants or all(kinds.get(g.subcontractor) is contractor for g in customer.grants))
        ):
            return _NOTHING
        found: list[tuple[str, str]] = []
        if customer.region not in hosted:
            found.append(
                (
                    "region",
                    f"no infrastructure subprocessor hosts region {customer.region!r} (hosted: {_names(hosted)})",
                )
            )
        for i, feature in enumerate(customer.features):
            if feature not in provided:
                found.append(
                    (f"features[{i}]", f"no subprocessor provides feature {feature!r} (provided: {_names(provided)})")
                )
        if customer.country == "US" and customer.state is None:
            found.append(("state", "a US customer needs its state (e.g. TX): the state's breach law follows it"))
        for i, grant in enumerate(customer.grants):
            kind = kinds.get(grant.subcontractor)
            if kind is None:
                found.append((f"grants[{i}].subcontractor", f"unknown subprocessor {grant.subcontractor!r}"))
            elif kind is not SubprocessorKind.SUBCONTRACTOR:
                found.append(
                    (
                        f"grants[{i}].subcontractor",
                        f"{grant.subcontractor!r} is a {kind.value} subprocessor: access is granted to subcontractors",
                    )
                )
        return found

    return check


_NOTHING: list[tuple[str, str]] = []  # returned, never changed: callers only read it


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def load_datamap(directory: Path, check: CustomerCheck | None = None) -> DataMap:
    """The whole map in a folder, checked as one: ids unique across files, and each customer agreeing with the
    subprocessors (:func:`map_check`) and passing ``check`` (e.g. that a rules file covers it), by file and line."""
    if not directory.is_dir():
        raise DataMapError([MapProblem(directory, None, None, "no such data map folder")])
    problems: list[MapProblem] = []
    subprocessors: list[Subprocessor] = []
    customers: list[Customer] = []
    checks: list[CustomerCheck] = []
    try:
        subprocessors = load_subprocessors(directory / "subprocessors.toml")
        checks.append(map_check(subprocessors))
    except DataMapError as exc:
        problems += exc.problems
    if check is not None:
        checks.append(check)
    every = checks[0] if len(checks) == 1 else _both(checks) if checks else None
    origin: dict[str, Path] = {}
    for path in customer_files(directory):
        try:
            loaded = load_customers(path, every)
        except DataMapError as exc:
            problems += exc.problems
            continue
        for customer in loaded:
            if customer.id in origin:
                problems.append(
                    MapProblem(path, None, "id", f"duplicate id {customer.id!r} (also in {origin[customer.id]})")
                )
            origin[customer.id] = path
        customers += loaded
    if problems:
        raise DataMapError(problems)
    del origin  # a million-entry dict: gone before the map builds its own, to keep the peak down
    return DataMap(subprocessors, customers)


def load_subprocessor_map(directory: Path) -> DataMap:
    """The map's subprocessors without its customers, for a service that never looks a customer up (the intake):
    at a million customers the whole map takes a gigabyte and half a minute to load. It knows the same names
    (``DataMap.vocabulary``): the map's check holds every customer to regions and features of its subprocessors."""
    if not directory.is_dir():
        raise DataMapError([MapProblem(directory, None, None, "no such data map folder")])
    return DataMap(load_subprocessors(directory / "subprocessors.toml"), [])


def _both(checks: list[CustomerCheck]) -> CustomerCheck:
    return lambda customer: [problem for check in checks for problem in check(customer)]
