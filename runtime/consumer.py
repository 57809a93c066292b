"""The loop every consumer runs, as a chain of steps: poll → parse → handle → flush → commit.

Offsets are committed last, after the handler recorded its effect and every message it produced was
acknowledged, so a consumer killed at any instant re-reads what it had not finished; handlers are idempotent
by id, so re-reading changes nothing. A message that cannot be parsed goes to ``messages.invalid`` with the
reason, and the loop goes on.
"""

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from pydantic import ValidationError

from runtime.kafka import send
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
    records: int = 0
    invalid: int = 0
    batches: int = 0
    handle_seconds: float = 0.0
    last_poll: float = 0.0
    """``time.time()`` at the end of the last poll; 0 before the first."""
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    """Records not yet handled and committed per (topic, partition): the last known end offset less the offset
    the loop committed (partitions it has committed on since it started)."""


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


class Turns:
    """Loops that share one handler take turns at it, first come first served.

    A plain lock is not fair: a loop with batch after batch waiting takes it back before another loop's thread
    has woken up, and that loop would wait until the first ran dry.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._issued = 0
        self._serving = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket = self._issued
            self._issued += 1
            self._changed.wait_for(lambda: self._serving == ticket)
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()


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


class ConsumerLoop(Generic[M]):
    def __init__(
        self,
        name: str,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        invalid_topic: str,
        model: type[M],
        handle: Callable[[Sequence[Received[M]]], None],
        poll_timeout_ms: int = 500,
        ack_timeout_s: float = 30.0,
        turns: Turns | None = None,
    ) -> None:
        """``turns``: shared with the other loops of one handler, which then handle one batch at a time (each
        polls on its own meanwhile)."""
        self.name = name
        self._consumer = consumer
        self._producer = producer
        self._invalid_topic = invalid_topic
        self._model = model
        self._handle = handle
        self._poll_timeout_ms = poll_timeout_ms
        self._ack_timeout_s = ack_timeout_s
        self._turn: Callable[[], AbstractContextManager[None]] = turns.turn if turns is not None else nullcontext
        self.stats = LoopStats()
        self._committed: dict[tuple[str, int], int] = {}

    def _lag(self) -> dict[tuple[str, int], int]:
        return partition_lag(self._consumer, self._committed)

    @property
    def loops(self) -> list["ConsumerLoop[Any]"]:
        return [self]

    def run(self, stop: threading.Event) -> None:
        log.info("consumer started", consumer=self.name)
        self.stats.running = True
        try:
            while not stop.is_set():
                self.run_once()
        finally:
            self.stats.running = False
            self._consumer.close(autocommit=False)
            self._producer.flush(timeout=self._ack_timeout_s)
            log.info("consumer stopped", consumer=self.name)

    def run_once(self) -> int:
        """One poll, handled and committed; returns the number of records read."""
        batch = self._consumer.poll(timeout_ms=self._poll_timeout_ms)
        self.stats.last_poll = time.time()
        records = [r for partition_records in batch.values() for r in partition_records]
        if not records:
            self.stats.lag = self._lag()
            return 0
        with self._turn():
            started = time.perf_counter()
            parsed = self._parse(records)
            if parsed:
                self._handle(parsed)
            self._producer.flush(timeout=self._ack_timeout_s)
            self._consumer.commit()
        for r in records:  # (in offset order per partition)
            self._committed[(r.topic, r.partition)] = r.offset + 1
        self.stats.handle_seconds += time.perf_counter() - started
        self.stats.records += len(records)
        self.stats.invalid += len(records) - len(parsed)
        self.stats.batches += 1
        self.stats.lag = self._lag()
        return len(records)

    def _parse(self, records: Sequence[Any]) -> list[Received[M]]:
        parsed: list[Received[M]] = []
        for record in records:
            try:
                message = self._model.model_validate_json(record.value)
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
