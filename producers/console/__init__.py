"""The on-call web console: incidents, who they reach, their clocks and notices, and the actions a role allows."""

from producers.console.app import create_console_app

__all__ = ["create_console_app"]
