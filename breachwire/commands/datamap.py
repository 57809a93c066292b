"""``breachwire datamap import FILE`` and ``breachwire datamap check [DIR]``.

An import adds the customers of one CSV or JSON Lines file to the data map folder (``settings.datamap_dir``, or
``--datamap``) as ``customers-<name>.<ext>``. The whole map, with the new file in it, is checked first, in a
scratch copy: a file with any error changes nothing, and every error names the file, line and field. A file of
that name already in the map is replaced only with ``--replace`` (a customer missing from the new one would
silently stop being notified), and the import then names the customers that leave the map.

Both check each customer against the subprocessors (its region hosted, its features provided, grants naming
subcontractors, a US customer's state) and against the rule book (``settings.rules_dir``, or ``--rules``): a
customer whose country or state no rules file covers is an error unless the map marks it ``no_applicable_law``
with a ``no_applicable_law_reason``. See docs/operations.md.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from breachwire.progress import Progress
from runtime import resources
from runtime.datamap import CustomerCheck
from runtime.settings import Settings


def _coverage(args: argparse.Namespace, settings: Settings) -> CustomerCheck:
    """The rules check for each customer; raises RulesError when the rule book cannot be read."""
    from consumers.assess.coverage import coverage_check
    from consumers.assess.rules import load_rules

    directory = Path(args.rules) if args.rules else settings.rules_dir
    return coverage_check(load_rules(directory), str(directory))


def _counting(progress: Progress, check: CustomerCheck | None = None) -> CustomerCheck | None:
    """``check``, counting each customer it sees on ``progress`` (when shown: else ``check`` as it is)."""
    if not progress.shown:
        return check

    def counted(customer: Any) -> list[tuple[str, str]]:
        progress.advance()
        return check(customer) if check is not None else []

    return counted


def _target_name(source: Path) -> str:
    stem = source.stem if source.stem.startswith("customers") else f"customers-{source.stem}"
    return f"{stem}{source.suffix.lower()}"


def _gone(ids: set[str]) -> str:
    shown = ", ".join(sorted(ids)[:10])
    return f": {shown}" + (f" and {len(ids) - 10} more" if len(ids) > 10 else "") if ids else ""


def _refused(source: Path, problems: str) -> int:
    print(f"breachwire: {source}: not imported, nothing changed:\n{problems}", file=sys.stderr)
    return 1


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.assess.rules import RulesError
    from runtime.datamap import DataMapError, load_customers, load_datamap

    source = Path(args.file)
    directory = Path(args.datamap) if args.datamap else settings.datamap_dir
    if resources.checkout() is None and directory == resources.example_datamap():
        # inside the installed package: the next install would replace it
        print(
            f"breachwire: {directory} is the example data map installed with breachwire: import into your own "
            "folder (--datamap, or the datamap_dir setting)",
            file=sys.stderr,
        )
        return 2
    target = directory / _target_name(source)
    if target.exists() and not args.replace:
        print(
            f"breachwire: {source}: not imported, nothing changed: the data map already has {target}; "
            "--replace to replace it with this file (its customers then leave the map unless this file has them), "
            "or give this file another name to add its customers",
            file=sys.stderr,
        )
        return 1
    try:
        covered = _coverage(args, settings)
    except RulesError as exc:
        print(f"breachwire: {exc}", file=sys.stderr)
        return 2
    try:
        with Progress(f"reading {source.name}") as read:
            # only counted: a million customers held here and again in the whole map would double the peak
            imported = len(load_customers(source, _counting(read)))
        # a file in the map checks (the services load it); only its ids are kept, to name those that leave
        replaced = {c.id for c in load_customers(target)} if target.exists() else None
        with tempfile.TemporaryDirectory() as scratch:
            # Checked as part of the whole map (ids unique across files, grants naming known subprocessors).
            trial = Path(scratch) / "datamap"
            shutil.copytree(directory, trial)
            shutil.copyfile(source, trial / target.name)
            try:
                with Progress("checking the whole map") as checked:
                    datamap = load_datamap(trial, _counting(checked, covered))
            except DataMapError as exc:
                # Name the user's files, not the scratch copies.
                text = str(exc).replace(str(trial / target.name), str(source)).replace(str(trial), str(directory))
                return _refused(source, text)
    except DataMapError as exc:
        return _refused(source, str(exc))
    except OSError as exc:
        print(f"breachwire: {directory}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    staged = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, staged)
    staged.replace(target)  # atomic: a reader sees the old map or the new one, never half a file
    print(f"imported {imported} customers into {target} ({len(datamap.customers)} in the map)")
    if replaced is not None:
        gone = replaced - datamap.customers.keys()
        left = f"{len(gone)} of its {len(replaced)} customers left the map{_gone(gone)}"
        print(f"replaced the earlier {target.name}: {left}")
    # the consumers look for a changed map every datamap_reload_s; the console reads it at start only
    every = f"{settings.datamap_reload_s:g} s" if settings.datamap_reload_s > 0 else "never (datamap_reload_s is 0)"
    print(f"running assess, notify and record services load the map again within {every}; restart the console")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.assess.rules import RulesError
    from runtime.datamap import DataMapError, load_datamap

    directory = Path(args.dir) if args.dir else settings.datamap_dir
    try:
        covered = _coverage(args, settings)
    except RulesError as exc:
        print(f"breachwire: {exc}", file=sys.stderr)
        return 2
    try:
        datamap = load_datamap(directory, covered)
    except DataMapError as exc:
        print(f"{exc}\nbreachwire: {directory}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    regions = ", ".join(f"{r} {len(datamap.in_region(r))}" for r in datamap.regions)
    print(
        f"{directory}: ok: {len(datamap.subprocessors)} subprocessors, {len(datamap.customers)} customers ({regions})"
    )
    return 0


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("datamap", help="the data map: import customers, check the whole map")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    a = actions.add_parser("import", help="add customers from a CSV or JSON Lines file (all or nothing)")
    a.add_argument("file", help="customers as .csv or .jsonl")
    a.add_argument("--datamap", help="the data map folder (default: settings.datamap_dir)")
    a.add_argument("--rules", help="the rules folder every customer must be covered by (default: settings.rules_dir)")
    a.add_argument(
        "--replace",
        action="store_true",
        help="replace the map's file of the same name (its customers not in FILE leave)",
    )
    a.set_defaults(func=cmd_import)

    c = actions.add_parser("check", help="validate a data map folder; every problem names file, line and field")
    c.add_argument("dir", nargs="?", help="the data map folder (default: settings.datamap_dir)")
    c.add_argument("--rules", help="the rules folder every customer must be covered by (default: settings.rules_dir)")
    c.set_defaults(func=cmd_check)
