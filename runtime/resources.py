"""The folders breachwire ships: notice templates, rules (with the release policy) and the example data map.

A checkout keeps them at its top level (``templates/``, ``rules/``, ``examples/datamap/``). An installed wheel
carries the same folders as package data under ``runtime/bundled/`` (pyproject.toml maps them there), so a
non-editable install needs no source tree. Settings take their defaults from here; a setting naming another
folder wins.
"""

from functools import cache
from importlib.resources import files
from pathlib import Path


@cache
def checkout() -> Path | None:
    """The source checkout this code runs from (in place, or installed editable); None when installed from a
    wheel."""
    if (files("runtime") / "bundled").is_dir():
        return None
    return Path(__file__).resolve().parent.parent


@cache
def _root() -> Path:
    """The folder holding ``templates/``, ``rules/`` and ``examples/``: the checkout, or the installed package's."""
    root = checkout()
    if root is not None:
        return root
    bundled = files("runtime") / "bundled"
    if not isinstance(bundled, Path):
        # Jinja's loader and the rules and map loaders read folders: a zipped install would need them unpacked
        raise RuntimeError(f"breachwire's bundled folders are not on the file system ({bundled}): install it unzipped")
    return bundled


def templates_dir() -> Path:
    return _root() / "templates"


def rules_dir() -> Path:
    return _root() / "rules"


def release_policy() -> Path:
    return rules_dir() / "release.toml"


def example_datamap() -> Path:
    return _root() / "examples" / "datamap"
