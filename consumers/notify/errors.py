"""What can go wrong delivering a notice, and how to tell a retryable failure from a final one.

    DeliveryError                a notice could not be delivered this time
    ├── RetryableDelivery        worth another attempt later: connection errors, timeouts, 408, 425, 429, 5xx,
    │                            SMTP 4xx; may carry the receiver's Retry-After
    └── FinalDelivery            another attempt would fail the same way: other 4xx, SMTP 5xx, a refused
                                 target, a template that cannot render

(A message that cannot even be parsed never gets here: the consumer loop sends it to ``messages.invalid``.)
"""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class DeliveryError(Exception):
    """A notice could not be delivered this time."""


class RetryableDelivery(DeliveryError):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class FinalDelivery(DeliveryError):
    pass


RETRYABLE_HTTP = frozenset({408, 425, 429})


def classify_http(status: int, reason: str, retry_after_s: float | None = None) -> DeliveryError | None:
    """None for 2xx; a retryable error for 408/425/429/5xx; a final one for anything else."""
    if 200 <= status < 300:
        return None
    if status in RETRYABLE_HTTP or status >= 500:
        return RetryableDelivery(f"HTTP {status}: {reason}", retry_after_s)
    return FinalDelivery(f"HTTP {status}: {reason}")


def classify_smtp(code: int, reason: str) -> DeliveryError:
    """SMTP 4xx replies are transient by definition (RFC 5321 §4.2.1); 5xx are permanent."""
    if 400 <= code < 500:
        return RetryableDelivery(f"SMTP {code}: {reason}")
    return FinalDelivery(f"SMTP {code}: {reason}")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
