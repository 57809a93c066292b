"""When to try a failed notice again, and on which retry topic it waits.

Attempt n+1 follows attempt n after ``delays[n-1]`` seconds, spread by ± ``jitter`` so that a receiver that
failed for everyone at once is not hit by everyone at once again; a Retry-After the receiver gave is honoured
(never earlier than asked), up to the longest delay of the schedule, so one answer cannot park a notice for days.
After the last delay's attempt the notice is dead.

Each delay has its own topic, ``notices.retry.<delay>``. A notice waits on the topic of its schedule step, or of
a longer step when Retry-After asks for longer: so a topic holds waits of similar length, and a record at the
head of a partition that is not yet due holds back the ones behind it by at most the spread of that topic.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Wait:
    seconds: float
    topic_delay_s: int


class RetrySchedule:
    def __init__(self, delays_s: Sequence[int], jitter: float = 0.0, rng: random.Random | None = None) -> None:
        if not delays_s:
            raise ValueError("a retry schedule needs at least one delay")
        self.delays_s = tuple(delays_s)
        self.jitter = jitter
        self._rng = rng or random.Random()

    @property
    def max_attempts(self) -> int:
        """The first attempt and one per delay."""
        return len(self.delays_s) + 1

    def after_failure(self, attempts: int, retry_after_s: float | None = None) -> Wait | None:
        """How long to wait after ``attempts`` failed attempts; None when none is left (the notice is dead)."""
        if attempts < 1:
            raise ValueError("attempts counts the attempts made, at least one")
        if attempts > len(self.delays_s):
            return None
        step = self.delays_s[attempts - 1]
        seconds = step * (1 + self._rng.uniform(-self.jitter, self.jitter))
        if retry_after_s is not None:
            seconds = max(seconds, min(retry_after_s, float(self.delays_s[-1])))
        return Wait(seconds, self.topic_for(seconds, at_least=step))

    def topic_for(self, seconds: float, at_least: int = 0) -> int:
        """The retry topic (by its delay) for a wait: the longest delay not above it, and not below ``at_least``."""
        fitting = [d for d in self.delays_s if d <= seconds and d >= at_least]
        if fitting:
            return max(fitting)
        return at_least if at_least in self.delays_s else min(self.delays_s)
