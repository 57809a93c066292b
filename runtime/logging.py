"""structlog set-up: JSON lines in services, readable lines on a terminal; secrets and personal data redacted.

Ids (incident, notice) are bound with ``structlog.contextvars.bound_contextvars`` where work on them starts,
so every line logged inside carries them.

Redaction works two ways, at any depth: the value of a sensitive key is replaced whole, and inside every other
string (the event, an error message, a formatted traceback) email addresses, phone numbers and secrets known by
their prefix (``whsec_``, ``bw_`` on-call tokens, ``Bearer``/``Basic`` credentials) are replaced where they stand.
The standard library's loggers (uvicorn's, kafka-python's, any library's) write through the same processors, so
every line a service writes is one JSON object, redacted alike.
"""

import logging
import re
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


# Values that are secret or personal wherever they appear in a string.
SENSITIVE_VALUES = re.compile(
    r"""
      [^\s@<>"',;:()\[\]]+@[^\s@<>"',;:()\[\]]+\.[A-Za-z]{2,}   # an email address
    | (?<![\w+])\+[1-9][0-9 ()-]{6,18}[0-9]                     # a phone number in international form
    | \b(?:whsec|bw|sk|ghp)_[A-Za-z0-9+/=_-]{4,}                 # secrets and tokens known by their prefix
    | \b(?:Bearer|Basic)\s+[A-Za-z0-9+/=._~-]+                  # credentials in an Authorization header
    """,
    re.VERBOSE,
)


class RedactSensitive:
    """A structlog processor: sensitive keys' values, and sensitive values in any string, become ``[redacted]``."""

    def __init__(self, keys: frozenset[str] = SENSITIVE_KEYS, values: re.Pattern[str] = SENSITIVE_VALUES) -> None:
        self._keys = keys
        self._values = values

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._values.sub(REDACTED, value)
        if isinstance(value, Mapping):
            return {k: (REDACTED if str(k).lower() in self._keys else self._clean(v)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v) for v in value]
        if isinstance(value, BaseException):
            return self._clean(f"{type(value).__name__}: {value}")
        return value

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key.lower() in self._keys:
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._clean(event_dict[key])
        return event_dict


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record comes, not as it was at set-up (a test's capture, since
    closed, or a service whose stderr was redirected)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class ServiceName:
    """A structlog processor: the service's name on every line, whichever thread logs it (context variables bound
    in the main thread are not seen by the threads a library starts, such as the Kafka client's)."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", self._service)
        return event_dict


def configure(settings: LogSettings, service: str) -> None:
    """Set structlog up for one process, and the standard library's logging through it; call once, at the entry
    point."""
    as_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    # format_exc_info before redaction, so that a traceback's text is redacted too
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        ServiceName(service),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        RedactSensitive(),
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )

    # The standard library's records, uvicorn's included, rendered by the same processors.
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for ours in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:  # set up before (a forked worker's
        root.removeHandler(ours)  # parent): this process's name replaces it
    if not root.handlers:  # as logging.basicConfig does: a host that set logging up (a test runner) keeps its own
        root.addHandler(handler)
        root.setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Quieten the Kafka client's own chatter, but for its consumer-group events (joining, the partitions assigned
    # and revoked, leaving): a few lines a rebalance, and what tells why a consumer holds no partitions.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)
