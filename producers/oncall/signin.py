"""Failed sign-ins, rate-limited per client address and overall; a good token is never counted.

The buckets live in the ledger, not in the process: the CLI is a new process each time, and the API and console
may run as several, so a limit kept in memory would start afresh with every guess. A bucket is one row and one
number (GCRA, the token bucket as a single "full again at" time), moved by one atomic upsert per failure.

Once a bucket is empty, tokens from that address (or, for the overall bucket, from anywhere) are refused without
being looked at until it refills: answering "good token" while throttling would leave guessing unthrottled.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from producers.oncall.tokens import Actor, Tokens, Unauthenticated
from runtime.settings import OncallSettings
from runtime.store import Ledger

OVERALL = "*"
T = TypeVar("T")


class Throttled(Exception):
    """Too many failed sign-ins; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Bucket:
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    def wait(self, tat: float | None, now: float) -> float:
        """Seconds until one more failure fits (0 when it does now)."""
        if tat is None:
            return 0.0
        return max(0.0, tat - now - (self.burst - 1) * self.interval)


class SignIn:
    def __init__(
        self, tokens: Tokens, ledger: Ledger, settings: OncallSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._tokens = tokens
        self._ledger = ledger
        self._address = Bucket(settings.signin_failures_per_minute, settings.signin_failure_burst)
        self._overall = Bucket(settings.signin_failures_overall_per_minute, settings.signin_failure_overall_burst)
        self._clock = clock

    def identify(self, token: str | None, client: str) -> Actor:
        """The token's actor; Throttled while the client's (or everyone's) failures are over the limit,
        Unauthenticated (counted) for a bad token. No token at all is not a guess and is not counted."""
        if not token:
            return self._tokens.identify(token)
        return self.guarded(client, lambda: self._tokens.identify(token))

    def guarded(self, client: str, attempt: Callable[[], T]) -> T:
        """Run a sign-in ``attempt`` (which raises Unauthenticated when it fails) under the limits."""
        key = f"addr:{client}"
        now = self._clock()
        tats = self._ledger.tokens.signin_tats([key, OVERALL])
        wait = max(self._address.wait(tats.get(key), now), self._overall.wait(tats.get(OVERALL), now))
        if wait > 0:
            raise Throttled(max(1, math.ceil(wait)))
        try:
            return attempt()
        except Unauthenticated:
            self._ledger.tokens.signin_failed(key, now, self._address.interval)
            self._ledger.tokens.signin_failed(OVERALL, now, self._overall.interval)
            raise
