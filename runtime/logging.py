"""structlog set-up: JSON lines in services, readable lines on a terminal; secrets and personal data redacted.

Ids (incident, notice) are bound with ``structlog.contextvars.bound_contextvars`` where work on them starts,
so every line logged inside carries them.
"""

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from runtime.settings import LogSettings

REDACTED = "[redacted]"

# Keys whose values are secret or personal: never written to a log, whatever their nesting.
SENSITIVE_KEYS = frozenset(
    {
        "secret",
        "secrets",
        "password",
        "token",
        "authorization",
        "signature",
        "webhook_secret",
        "email",
        "address",
        "phone",
        "to",
        "recipient_address",
        "body",
        "description",
    }
)


class RedactSensitive:
    """A structlog processor replacing the values of sensitive keys, at any depth, with ``[redacted]``."""

    def __init__(self, keys: frozenset[str] = SENSITIVE_KEYS) -> None:
        self._keys = keys

    def _clean(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: (REDACTED if str(k).lower() in self._keys else self._clean(v)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key.lower() in self._keys:
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._clean(event_dict[key])
        return event_dict


def configure(settings: LogSettings, service: str) -> None:
    """Set structlog up for one process; call once, at the entry point."""
    as_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            RedactSensitive(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Quieten the Kafka client's own chatter; it logs through the standard library.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.ERROR)
