"""``breachwire``: the one command. Subcommands parse their arguments, build settings once, and call in."""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from breachwire.commands import assess, audit, datamap, dlq, incident, notices, rules, stack
from runtime.settings import Settings, load_settings

# Each module registers its subcommands; `breachwire --help` lists them in this order.
COMMAND_MODULES = [stack, datamap, rules, assess, notices, dlq, incident, audit]


def _settings(args: argparse.Namespace) -> Settings:
    config = args.config or os.environ.get("BREACHWIRE_CONFIG")
    return load_settings(Path(config) if config else None)


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
    try:
        settings = _settings(args)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        print(f"breachwire: bad settings: {exc}", file=sys.stderr)
        return 2
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, settings)
    except KeyboardInterrupt:
        return 130
