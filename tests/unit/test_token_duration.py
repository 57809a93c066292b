"""``incident token create --expires-in``: a duration a person types, or a clear error."""

import argparse
from datetime import timedelta

import pytest

from breachwire.commands.incident import _duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("7", timedelta(days=7)),
    ],
)
def test_a_duration_is_read(text: str, expected: timedelta) -> None:
    assert _duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "-1d", "1w", "soon", "1.5d"])
def test_anything_else_is_named(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a duration such as 30d"):
        _duration(text)
