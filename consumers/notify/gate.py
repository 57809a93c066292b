"""Reading retry topics only as their records fall due, without blocking anything else.

A record read before its due time puts its partition on hold: the consumer seeks back to that record and
pauses the partition, so the next commit stores that record's offset (a crash re-reads it) and other
partitions and topics go on. Before every poll, partitions whose hold has run out are resumed. A rebalance may
hand a held partition to this consumer again unpaused: its first record is then read early and held again.

Legal notices first: given ``(first, later)`` topics (``notices.requested``, ``notices.alerts``), a poll that
brings any record of ``first`` puts the records of ``later`` it brought back (held, the same way, until a poll
brings none of ``first``): customer alerts go out once no controller or authority notice is waiting.
"""

import math
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition


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
        self._held: dict[TopicPartition, float] = {}

    def hold(self, topic: str, partition: int, offset: int, until: float) -> None:
        """Re-read ``partition`` from ``offset`` once ``until`` (epoch seconds) has come."""
        tp = TopicPartition(topic, partition)
        self._consumer.seek(tp, offset)
        self._consumer.pause(tp)
        self._held[tp] = until

    def _resume_due(self) -> None:
        now = self._clock()
        assigned = self._consumer.assignment()
        due = [tp for tp, until in self._held.items() if until <= now or tp not in assigned]
        for tp in due:
            del self._held[tp]
        # A partition paused with no hold left (its hold ran out, or it was revoked while held and handed back
        # still paused, as kafka-python keeps the flag) is read again: nothing else would ever resume it.
        if ready := [tp for tp in self._consumer.paused() if tp not in self._held and tp in assigned]:
            self._consumer.resume(*ready)

    def poll(self, timeout_ms: int = 0, **kwargs: Any) -> Any:
        self._resume_due()
        if timed := [until for until in self._held.values() if until != math.inf]:
            # Wake up when the next hold runs out, not only when the poll times out.
            next_due_ms = max(0, int((min(timed) - self._clock()) * 1000)) + 10
            timeout_ms = min(timeout_ms, next_due_ms)
        records = self._consumer.poll(timeout_ms=timeout_ms, **kwargs)
        return records if self._priority is None else self._first_things_first(records)

    def _first_things_first(self, records: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """Hold back what ``later`` brought while ``first`` has records; else let ``later`` be read again."""
        assert self._priority is not None
        first, later = self._priority
        if any(tp.topic == first for tp in records):
            for tp in [tp for tp in records if tp.topic == later]:
                self.hold(tp.topic, tp.partition, records.pop(tp)[0].offset, math.inf)
            return records
        waiting = [tp for tp, until in self._held.items() if tp.topic == later and until == math.inf]
        for tp in waiting:
            del self._held[tp]
        if waiting:
            self._consumer.resume(*waiting)
        return records

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        return self._consumer.commit(*args, **kwargs)

    def close(self, *args: Any, **kwargs: Any) -> Any:
        return self._consumer.close(*args, **kwargs)

    def assignment(self) -> Any:  # (these two: for the loop's lag)
        return self._consumer.assignment()

    def highwater(self, partition: TopicPartition) -> Any:
        return self._consumer.highwater(partition)

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
