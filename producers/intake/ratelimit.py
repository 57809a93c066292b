"""A token bucket per sender: a steady rate with some room for bursts; says how long to wait when empty."""

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        burst: int,
        overrides: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_minute = per_minute
        self._burst = burst
        self._overrides = overrides or {}
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # sender → (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, sender: str) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is there (for Retry-After)."""
        rate = self._overrides.get(sender, self._per_minute) / 60.0
        capacity = float(min(self._burst, max(1, self._overrides.get(sender, self._burst))))
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(sender, (capacity, now))
            tokens = min(capacity, tokens + (now - then) * rate)
            if tokens >= 1.0:
                self._buckets[sender] = (tokens - 1.0, now)
                return 0.0
            self._buckets[sender] = (tokens, now)
            return (1.0 - tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
