"""A token bucket per sender: a steady rate with some room for bursts; says how long to wait when empty.

The buckets live in shared memory, made before the intake forks its workers (``intake.workers``): the workers
of one intake take from the same bucket, so a sender's limit is the same with one worker or several, whichever
worker its connection lands on.
"""

import math
import multiprocessing
import time
from collections.abc import Callable, Iterable

from runtime.settings import IntakeSettings


class RateLimiter:
    def __init__(
        self,
        senders: Iterable[str],
        per_minute: int,
        burst: int,
        overrides: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,  # the system's monotonic clock: one for every process
    ) -> None:
        self._per_minute = per_minute
        self._burst = burst
        self._overrides = overrides or {}
        self._clock = clock
        self._slots = {sender: i for i, sender in enumerate(sorted(set(senders)))}
        context = multiprocessing.get_context("fork")
        # sender i: [2i] tokens, [2i + 1] when counted; every bucket starts full
        self._buckets = context.RawArray("d", 2 * len(self._slots))
        self._lock = context.Lock()
        now = clock()
        for sender, i in self._slots.items():
            self._buckets[2 * i], self._buckets[2 * i + 1] = self._capacity(sender), now

    @classmethod
    def of(cls, settings: IntakeSettings, senders: Iterable[str]) -> "RateLimiter":
        return cls(senders, settings.rate_limit_per_minute, settings.rate_limit_burst, settings.rate_limits)

    def _capacity(self, sender: str) -> float:
        return float(min(self._burst, max(1, self._overrides.get(sender, self._burst))))

    def take(self, sender: str) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is there (for Retry-After). ``sender``
        is one of those the limiter was made for."""
        rate = self._overrides.get(sender, self._per_minute) / 60.0
        capacity = self._capacity(sender)
        i = 2 * self._slots[sender]
        with self._lock:
            now = self._clock()
            tokens: float = min(capacity, self._buckets[i] + (now - self._buckets[i + 1]) * rate)
            self._buckets[i + 1] = now
            if tokens >= 1.0:
                self._buckets[i] = tokens - 1.0
                return 0.0
            self._buckets[i] = tokens
            return (1.0 - tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
