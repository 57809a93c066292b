"""The intake API: subprocessors post signed incident reports here."""

from producers.intake.app import create_app

__all__ = ["create_app"]
