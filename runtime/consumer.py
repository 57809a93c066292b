"""The loop every consumer runs, as a chain of steps: poll → parse → handle → flush → commit.

Offsets are committed last, after the handler recorded its effect and every message it produced was
acknowledged, so a consumer killed at any instant re-reads what it had not finished; handlers are idempotent
by id, so re-reading changes nothing. A message that cannot be parsed goes to ``messages.invalid`` with the
reason, and the loop goes on.

``Batches`` is the reading side (poll and parse; ``done``: flush, then commit), which ``ConsumerLoop`` runs with a
handler; the notifier, whose handler awaits its deliveries, steps it from its event loop itself. Either way
``Batches.stats`` counts what was read and what is left (the loop's metrics and its liveness).
"""

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import MemberState
from pydantic import ValidationError

from runtime.kafka import send
from runtime.settings import KafkaSettings
from schemas import InvalidMessage
from schemas.common import Message

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Received(Generic[M]):
    """A parsed message with where it came from."""

    message: M
    topic: str
    partition: int
    offset: int


@dataclass
class LoopStats:
    """What a loop has done, for its metrics and health endpoint (read from another thread: plain values, each
    replaced whole)."""

    running: bool = False
    """Polling: from its first poll until it is closed."""
    records: int = 0
    invalid: int = 0
    batches: int = 0
    handle_seconds: float = 0.0
    """From the end of the poll that read a batch to its commit: parsing, handling, acks."""
    last_poll: float = 0.0
    """``time.time()`` at the end of the last poll; 0 before the first."""
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    """Records not yet handled and committed per (topic, partition): the last known end offset less the offset
    the loop committed (partitions it has committed on since it started)."""
    unsettled_since: float = 0.0
    """``time.time()`` when the consumer's group membership was last seen leave the stable state (joining,
    rebalancing); 0 while it is stable."""
    paused: tuple[tuple[str, int], ...] = ()
    """The (topic, partition)s not read for now, as of the last poll: a retry partition whose next record is not
    due, customer alerts while legal notices wait (the notifier's gate). Lag on a partition not paused, that
    stays, is a consumer not reading what it holds."""


def partition_lag(consumer: KafkaConsumer, committed: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """Per assigned partition the loop has committed on: the end offset (as last fetched: no request) less the
    offset committed. Only local state is read: asking the consumer its position would re-validate it and hold
    its fetches back."""
    lag: dict[tuple[str, int], int] = {}
    try:
        for tp in consumer.assignment():
            end, done = consumer.highwater(tp), committed.get((tp.topic, tp.partition))
            if end is not None and done is not None:
                lag[(tp.topic, tp.partition)] = max(0, end - done)
    except KafkaError:  # partitions revoked between the calls: the next poll tells again
        return {}
    return lag


class Runnable(Protocol):
    """A consumer loop, or several run as one."""

    name: str

    def run(self, stop: threading.Event) -> None: ...


def run_together(loops: Sequence[Runnable], stop: threading.Event) -> None:
    """Run loops until ``stop`` is set, each on a thread of its own. When one ends early (it failed), ``stop`` is
    set so the others end too, and its error is raised here: the process exits as it would with one loop."""
    failures: list[BaseException] = []

    def run(loop: Runnable) -> None:
        try:
            loop.run(stop)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(loop,), name=loop.name) for loop in loops]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
        if not all(t.is_alive() for t in threads):
            stop.set()
    if failures:
        raise failures[0]


class Stopping(Protocol):
    """What a loop asks between polls: whether to stop (a ``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


class Batches(Generic[M]):
    """A consumer's reading side: polls a batch, parses each record as its topic's model (a record that does not
    parse goes to ``messages.invalid``), and once the batch is handled, waits for Kafka's acks of what the
    handler produced and commits the offsets."""

    def __init__(
        self,
        name: str,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        invalid_topic: str,
        model: type[M] | Mapping[str, type[M]],
        kafka: KafkaSettings | None = None,
    ) -> None:
        """``model``: the one every record is parsed as, or one per topic. ``kafka``: how long a poll waits, how
        long the acks of a batch may take, how long group membership may stay unsettled before the consumer
        joins again (the defaults when not given)."""
        kafka = kafka or KafkaSettings()
        self.name = name
        self._consumer = consumer
        self._producer = producer
        self._invalid_topic = invalid_topic
        self._model = model
        self._poll_timeout_ms = kafka.poll_timeout_ms
        self._ack_timeout_s = kafka.ack_timeout_s
        self._rejoin_after_s = kafka.rejoin_after_s
        self.stats = LoopStats()
        self._committed: dict[tuple[str, int], int] = {}
        self._reading: dict[tuple[str, int], int] = {}  # the next offset per partition, once the batch is done
        self._read_at = 0.0

    def read(self) -> tuple[int, list[Received[M]]]:
        """One poll: how many records it read, and the messages of those that parsed, in the order read."""
        self.stats.running = True
        batch = self._consumer.poll(timeout_ms=self._poll_timeout_ms)
        self.stats.last_poll = time.time()
        self._read_at = time.perf_counter()
        records = [r for partition_records in batch.values() for r in partition_records]
        self._watch_membership(idle=not records)
        self.stats.paused = tuple(sorted((tp.topic, tp.partition) for tp in self._consumer.paused()))
        if not records:
            self.stats.lag = partition_lag(self._consumer, self._committed)
            return 0, []
        parsed = self._parse(records)
        self._reading = {(r.topic, r.partition): r.offset + 1 for r in records}  # (in offset order per partition)
        self.stats.records += len(records)
        self.stats.invalid += len(records) - len(parsed)
        return len(records), parsed

    def done(self) -> None:
        """The batch read last is handled: once Kafka acknowledged what was produced, commit its offsets."""
        self._producer.flush(timeout=self._ack_timeout_s)
        try:
            self._consumer.commit()
        except (RebalanceInProgressError, CommitFailedError) as exc:
            # The batch is handled. A consumer that keeps its partitions through the rebalance commits these
            # offsets with its next batch; one given them instead reads the batch again from the last commit,
            # which changes nothing (handlers are idempotent by id).
            log.warning("offsets not committed: the group is rebalancing", consumer=self.name, error=str(exc))
            self._reading = {}
            return
        self._committed |= self._reading
        self._reading = {}
        self.stats.handle_seconds += time.perf_counter() - self._read_at
        self.stats.batches += 1
        self.stats.lag = partition_lag(self._consumer, self._committed)

    def _watch_membership(self, idle: bool) -> None:
        """Join the group again (between batches: when a poll brought nothing) when membership has stayed
        unsettled longer than any rebalance can take.

        kafka-python (3.0) can leave a rebalance unfinished: when one started because the partitions changed (the
        leader's metadata) runs past a poll's timeout, the next poll no longer sees a reason to rejoin and never
        completes it, so the member holds no partitions, sends no heartbeats, and is dropped by the broker while
        polling on. Leaving and subscribing again starts a fresh rebalance."""
        if self._consumer.group_metadata().state == MemberState.STABLE:
            self.stats.unsettled_since = 0.0
            return
        now = time.time()
        if not self.stats.unsettled_since:
            self.stats.unsettled_since = now
        elif idle and now - self.stats.unsettled_since > self._rejoin_after_s:
            topics = sorted(self._consumer.subscription() or ())
            log.warning(
                "group membership unsettled: joining again",
                consumer=self.name,
                unsettled_s=round(now - self.stats.unsettled_since),
                topics=topics,
            )
            self._consumer.unsubscribe()
            self._consumer.subscribe(topics)
            self.stats.unsettled_since = now

    def close(self) -> None:
        self.stats.running = False
        self._consumer.close(autocommit=False)
        self._producer.flush(timeout=self._ack_timeout_s)

    def _model_of(self, topic: str) -> type[M]:
        return self._model[topic] if isinstance(self._model, Mapping) else self._model

    def _parse(self, records: Sequence[Any]) -> list[Received[M]]:
        parsed: list[Received[M]] = []
        for record in records:
            try:
                message = self._model_of(record.topic).model_validate_json(record.value)
            except ValidationError as exc:
                reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
                self._dead_letter(record, reason[:2000])
                continue
            parsed.append(Received(message, record.topic, record.partition, record.offset))
        return parsed

    def _dead_letter(self, record: Any, reason: str) -> None:
        log.warning(
            "invalid message",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        value = record.value or b""
        send(
            self._producer,
            self._invalid_topic,
            record.topic,
            InvalidMessage(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                consumer=self.name,
                reason=reason,
                payload=value.decode("utf-8", errors="replace")[:100_000],
                at=datetime.now(UTC),
            ),
        )


class ConsumerLoop(Batches[M]):
    """Batches handled one after the other by ``handle``, until stopped."""

    def __init__(
        self,
        name: str,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        invalid_topic: str,
        model: type[M] | Mapping[str, type[M]],
        handle: Callable[[Sequence[Received[M]]], None],
        kafka: KafkaSettings | None = None,
    ) -> None:
        super().__init__(name, consumer, producer, invalid_topic, model, kafka)
        self._handle = handle

    def run(self, stop: Stopping) -> None:
        log.info("consumer started", consumer=self.name)
        try:
            while not stop.is_set():
                self.run_once()
        finally:
            self.close()
            log.info("consumer stopped", consumer=self.name)

    def run_once(self) -> int:
        """One poll, handled and committed; returns the number of records read."""
        count, received = self.read()
        if received:
            self._handle(received)
        if count:
            self.done()
        return count
