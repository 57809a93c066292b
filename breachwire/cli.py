"""``breachwire``: the one command. Subcommands parse their arguments, build settings once, and call in."""

import argparse
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from breachwire.commands import assess, audit, datamap, dlq, incident, notices, rules, stack
from runtime.datamap import DataMapError
from runtime.settings import Settings, load_settings
from runtime.store import LedgerUnreachable
from runtime.validation import field_path

# Each module registers its subcommands; `breachwire --help` lists them in this order.
COMMAND_MODULES = [stack, datamap, rules, assess, notices, dlq, incident, audit]


def _config_file(args: argparse.Namespace) -> Path | None:
    config = args.config or os.environ.get("BREACHWIRE_CONFIG")
    return Path(config) if config else None


def _settings_problems(exc: Exception, config: Path | None) -> list[str]:
    """Each problem on a line, starting with where the value came from: its environment variable when set, else
    the settings file. Never the value itself: it may be a password."""
    if isinstance(exc, tomllib.TOMLDecodeError):
        return [f"{config}: {exc}"]  # tomllib's own message names the line and column
    if not isinstance(exc, ValidationError):
        return [str(exc)]
    problems = []
    for error in exc.errors():
        variable = "BREACHWIRE_" + "__".join(str(part).upper() for part in error["loc"])
        where = variable if variable in os.environ or config is None else str(config)
        problems.append(f"{where}: {field_path(error['loc'])}: {error['msg']}")
    return problems


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breachwire",
        description="Security-incident notification pipeline: breach reports in, on-time notices out, with proof.",
    )
    parser.add_argument("--config", help="a TOML settings file (also BREACHWIRE_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = _config_file(args)
    try:
        settings = load_settings(config)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        for problem in _settings_problems(exc, config):
            print(f"breachwire: bad settings: {problem}", file=sys.stderr)
        return 2
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, settings)
    except DataMapError as exc:  # whichever command loaded it: each problem by file, line and field
        print(f"{exc}\nbreachwire {args.command}: the data map does not load", file=sys.stderr)
        return 1
    except LedgerUnreachable as exc:
        print(f"breachwire {args.command}: {exc}; see ledger.url (BREACHWIRE_LEDGER__URL)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
