"""``breachwire rules table [--format markdown|json] [--rules DIR]``: the whole rule book as a table.

One row per jurisdiction and obligation (consumers/assess/ruletable.py). The Markdown form is a document of its
own, ``docs/rules.md``: ``make rules-table`` writes it and CI checks that it is current.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from runtime.settings import Settings

HEADER = """# The rule book

Every jurisdiction in `rules/` and each of its duties to notify: who is told, by when, from what, when the duty
applies, the authority by its name, the law's sections and the day they were checked against the sources.
Generated from the rules files: do not edit; change a file in `rules/`, then run `make rules-table`
(`breachwire rules table --format markdown`). `--format json` prints the same rows as JSON.

"""


def cmd_table(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.assess.rules import RulesError, load_rules
    from consumers.assess.ruletable import as_json, markdown, rows

    directory = Path(args.rules) if args.rules else settings.rules_dir
    try:
        book = load_rules(directory)
    except RulesError as exc:
        print(f"breachwire: {exc}", file=sys.stderr)
        return 2
    table = rows(book)
    sys.stdout.write(as_json(table) if args.format == "json" else HEADER + markdown(table))
    return 0


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("rules", help="the jurisdiction rules: print the whole book as a table")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser("table", help="one row per jurisdiction and obligation, as Markdown or JSON")
    t.add_argument("--format", choices=["markdown", "json"], default="markdown")
    t.add_argument("--rules", help="the rules folder (default: settings.rules_dir)")
    t.set_defaults(func=cmd_table)
