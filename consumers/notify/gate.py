"""Reading retry topics only as their records fall due, without blocking anything else.

A record read before its due time puts its partition on hold: the consumer seeks back to that record and
pauses the partition, so the next commit stores that record's offset (a crash re-reads it) and other
partitions and topics go on. Before every poll, partitions whose hold has run out are resumed. A rebalance may
hand a held partition to this consumer again unpaused: its first record is then read early and held again.

A held partition is paused only after the poll that follows its hold, one in which none of its records came
(any that do are put back the same way): kafka-python (3.0.12) never reads again a partition paused while the
rest of a fetch of it waits in the consumer (a poll returned only part of it), once resumed. The poll in
between drops that rest, stale after the seek.

Legal notices first: given ``(first, later)`` topics (``notices.requested``, ``notices.alerts``), a poll that
brings records of ``first`` puts the records of ``later`` it brought back (held, the same way) while ``first`` is
being read: customer alerts go out once no controller or authority notice is waiting to be read. The hold lasts
  - as long as a poll brings records of ``first`` with more behind them on their partition (an incident's
    fan-out being read), however long that takes;
  - else ``LEGAL_GRACE_S`` from its start, so that legal notices arriving in one burst across partitions are all
    read before the alerts; then the alerts have their turn for as long again, holding back only for a
    fan-out, and a poll that brings no record of ``first`` ends the hold at once.
A trickle on ``first`` (on-call alerts, one a report; another incident's few notices) thus delays customer
alerts by seconds: held while any record of ``first`` came, they would wait as long as the trickle lasts.
"""

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kafka import KafkaConsumer, TopicPartition

LEGAL_GRACE_S = 2.0


class _Hold(NamedTuple):
    until: float
    """Epoch seconds; ``math.inf``: until lifted (customer alerts while legal notices are read)."""
    offset: int
    """Where the partition is read again from (sought again if a poll brings it before it is paused)."""


class DueGate:
    """A KafkaConsumer as ``ConsumerLoop`` uses it (poll, commit, close), with partitions held until a time."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        clock: Callable[[], float] = time.time,
        priority: tuple[str, str] | None = None,
    ) -> None:
        """``priority``: (first, later), a topic whose records wait while the other has any to read."""
        self._consumer = consumer
        self._clock = clock
        self._priority = priority
        self._held: dict[TopicPartition, _Hold] = {}
        self._holding_since: float | None = None  # when customer alerts began to wait for legal notices
        self._alerts_turn_until = 0.0

    def hold(self, topic: str, partition: int, offset: int, until: float) -> None:
        """Re-read ``partition`` from ``offset`` once ``until`` (epoch seconds) has come."""
        tp = TopicPartition(topic, partition)
        self._consumer.seek(tp, offset)
        self._held[tp] = _Hold(until, offset)  # paused after the next poll (see the module's doc)

    def _keep_held(self, records: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """Put back what a poll brought of held partitions not yet paused, and pause those it brought none of (and
        the consumer still holds: a rebalance within the poll may have taken one away; its hold ends before the
        next poll)."""
        brought = [tp for tp in records if tp in self._held]
        for tp in brought:
            del records[tp]
            self._consumer.seek(tp, self._held[tp].offset)
        paused, assigned = self._consumer.paused(), self._consumer.assignment()
        if ready := [tp for tp in self._held if tp not in brought and tp not in paused and tp in assigned]:
            self._consumer.pause(*ready)
        return records

    def _resume_due(self) -> None:
        now = self._clock()
        assigned = self._consumer.assignment()
        due = [tp for tp, held in self._held.items() if held.until <= now or tp not in assigned]
        for tp in due:
            del self._held[tp]
        # A partition paused with no hold left (its hold ran out, or it was revoked while held and handed back
        # still paused, as kafka-python keeps the flag) is read again: nothing else would ever resume it.
        if ready := [tp for tp in self._consumer.paused() if tp not in self._held and tp in assigned]:
            self._consumer.resume(*ready)

    def poll(self, timeout_ms: int = 0, **kwargs: Any) -> Any:
        self._resume_due()
        if timed := [held.until for held in self._held.values() if held.until != math.inf]:
            # Wake up when the next hold runs out, not only when the poll times out.
            next_due_ms = max(0, int((min(timed) - self._clock()) * 1000)) + 10
            timeout_ms = min(timeout_ms, next_due_ms)
        records = self._keep_held(self._consumer.poll(timeout_ms=timeout_ms, **kwargs))
        return records if self._priority is None else self._first_things_first(records)

    def _first_things_first(self, records: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """Hold back what ``later`` brought while ``first`` has records waiting behind those read; else let
        ``later`` be read again."""
        assert self._priority is not None
        first, later = self._priority
        now = self._clock()
        legal = [(tp, batch) for tp, batch in records.items() if tp.topic == first]
        fan_out = any(self._more_behind(tp, batch) for tp, batch in legal)
        if legal and (fan_out or self._in_grace(now)):
            if self._holding_since is None:
                self._holding_since = now
            for tp in [tp for tp in records if tp.topic == later]:
                self.hold(tp.topic, tp.partition, records.pop(tp)[0].offset, math.inf)
            return records
        if self._holding_since is not None:  # the hold ends: the alerts' turn, for a while
            self._holding_since = None
            self._alerts_turn_until = now + LEGAL_GRACE_S
        waiting = [tp for tp, held in self._held.items() if tp.topic == later and held.until == math.inf]
        for tp in waiting:
            del self._held[tp]
        if waiting:
            self._consumer.resume(*waiting)
        return records

    def _in_grace(self, now: float) -> bool:
        """Whether legal notices caught up to their partitions' ends still hold customer alerts back: within
        ``LEGAL_GRACE_S`` of the hold's start, or (no hold) once the alerts' turn is over."""
        if self._holding_since is not None:
            return now - self._holding_since < LEGAL_GRACE_S
        return now >= self._alerts_turn_until

    def _more_behind(self, tp: TopicPartition, batch: list[Any]) -> bool:
        """Whether the partition has records past the last of ``batch``, by the end offset the consumer last
        fetched (unknown: taken as more)."""
        end = self._consumer.highwater(tp)
        return end is None or end > batch[-1].offset + 1

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        return self._consumer.commit(*args, **kwargs)

    def close(self, *args: Any, **kwargs: Any) -> Any:
        return self._consumer.close(*args, **kwargs)

    def assignment(self) -> Any:  # (these two: for the loop's lag)
        return self._consumer.assignment()

    def highwater(self, partition: TopicPartition) -> Any:
        return self._consumer.highwater(partition)

    def paused(self) -> Any:
        return self._consumer.paused()

    def group_metadata(self) -> Any:  # (these four: for the loop's watch on its group membership)
        return self._consumer.group_metadata()

    def subscription(self) -> Any:
        return self._consumer.subscription()

    def unsubscribe(self) -> None:
        self._consumer.unsubscribe()

    def subscribe(self, topics: list[str]) -> None:
        self._consumer.subscribe(topics)

    @property
    def held(self) -> dict[TopicPartition, float]:
        return dict(self._held)
