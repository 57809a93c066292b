"""The due gate's holds, on a stand-in for the consumer's pause/seek/resume bookkeeping (the reading itself is
tested against the real broker in tests/integration/test_delivery.py)."""

import itertools
import math
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from consumers.notify.gate import LEGAL_GRACE_S, DueGate

ALERTS = TopicPartition("notices.alerts", 0)
RETRY = TopicPartition("notices.retry.5s", 0)
LEGAL = TopicPartition("notices.requested", 0)
LEGAL_1 = TopicPartition("notices.requested", 1)


@dataclass(frozen=True)
class Record:
    offset: int


class Consumer:
    """What the gate asks of a KafkaConsumer: assignment, seek, pause, resume, paused, poll, highwater."""

    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned)
        self.paused_ = set[TopicPartition]()
        self.positions: dict[TopicPartition, int] = {}
        self.ends: dict[TopicPartition, int] = {}  # the end offsets as last fetched
        self.next_poll: dict[TopicPartition, list[Any]] = {}
        self.revoked_in_poll = set[TopicPartition]()

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def pause(self, *tps: TopicPartition) -> None:
        for tp in tps:
            if tp not in self.assigned:  # (as kafka-python's subscription state fails on one)
                raise KeyError(tp)
        self.paused_ |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_ -= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_)

    def poll(self, timeout_ms: int = 0, **_: Any) -> dict[TopicPartition, list[Any]]:
        self.assigned -= self.revoked_in_poll  # a rebalance within the poll
        return self.next_poll

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)


def test_a_hold_ends_when_due() -> None:
    now = [100.0]
    consumer = Consumer(RETRY)
    gate = DueGate(consumer, clock=lambda: now[0])  # type: ignore[arg-type]
    gate.hold(RETRY.topic, RETRY.partition, 7, until=105.0)
    gate.poll()
    assert consumer.paused() == {RETRY} and consumer.positions[RETRY] == 7
    now[0] = 105.0
    gate.poll()
    assert consumer.paused() == set() and gate.held == {}


def test_a_partition_revoked_in_the_poll_after_its_hold_is_not_paused_and_its_hold_ends() -> None:
    """The pause comes after the next poll; a rebalance within that poll may have taken the partition away, and
    pausing a partition the consumer no longer holds fails (it stopped a notifier worker)."""
    consumer = Consumer(RETRY, ALERTS)
    gate = DueGate(consumer, clock=lambda: 100.0)  # type: ignore[arg-type]
    gate.hold(RETRY.topic, RETRY.partition, 7, until=105.0)
    consumer.revoked_in_poll = {RETRY}
    gate.poll()
    assert consumer.paused() == set()
    gate.poll()
    assert gate.held == {}


def test_a_partition_revoked_while_held_and_handed_back_paused_is_read_again() -> None:
    """kafka-python keeps a partition's paused flag across a rebalance that hands it back: without a hold left,
    nothing would resume it and its notices would wait for ever."""
    consumer = Consumer(ALERTS)
    gate = DueGate(consumer, priority=("notices.requested", ALERTS.topic))  # type: ignore[arg-type]
    gate.hold(ALERTS.topic, ALERTS.partition, 3, until=math.inf)  # alerts waiting behind legal notices
    consumer.assigned = set()  # revoked ...
    gate.poll()
    assert gate.held == {}
    consumer.assigned = {ALERTS}  # ... and handed back, still paused
    gate.poll()
    assert consumer.paused() == set()


def test_customer_alerts_wait_while_legal_notices_are_read_with_more_behind_them() -> None:
    now = [0.0]
    consumer = Consumer(LEGAL, ALERTS)
    gate = DueGate(consumer, clock=lambda: now[0], priority=(LEGAL.topic, ALERTS.topic))  # type: ignore[arg-type]
    consumer.ends = {LEGAL: 5_000, ALERTS: 9_000}  # an incident's fan-out: 200 read, thousands behind
    consumer.next_poll = {LEGAL: [Record(o) for o in range(200)], ALERTS: [Record(40), Record(41)]}
    assert list(gate.poll()) == [LEGAL]
    assert set(gate.held) == {ALERTS} and consumer.positions[ALERTS] == 40  # read again from the first held
    # however long the fan-out takes to read
    now[0] = 60.0
    consumer.next_poll = {LEGAL: [Record(o) for o in range(200, 400)]}
    gate.poll()
    assert consumer.paused() == {ALERTS}
    # the legal notices read to their end: the alerts go
    consumer.next_poll = {LEGAL: [Record(o) for o in range(4_800, 5_000)]}
    gate.poll()
    assert consumer.paused() == set() and gate.held == {}


def test_customer_alerts_wait_a_moment_for_legal_notices_arriving_together_on_other_partitions() -> None:
    now = [0.0]
    consumer = Consumer(LEGAL, LEGAL_1, ALERTS)
    gate = DueGate(consumer, clock=lambda: now[0], priority=(LEGAL.topic, ALERTS.topic))  # type: ignore[arg-type]
    consumer.ends = {LEGAL: 10, LEGAL_1: 10, ALERTS: 10}
    # the first poll has one partition's legal notices, to its end, and the alerts ...
    consumer.next_poll = {LEGAL: [Record(o) for o in range(10)], ALERTS: [Record(o) for o in range(10)]}
    assert list(gate.poll()) == [LEGAL]
    # ... the next the other partition's: the alerts still wait
    now[0] = 0.3
    consumer.next_poll = {LEGAL_1: [Record(o) for o in range(10)]}
    assert list(gate.poll()) == [LEGAL_1] and consumer.paused() == {ALERTS}
    now[0] = 0.6
    consumer.next_poll = {}  # no legal notice left: their turn
    gate.poll()
    assert consumer.paused() == set() and gate.held == {}


def test_a_trickle_of_legal_notices_delays_customer_alerts_by_seconds_never_for_as_long_as_it_lasts() -> None:
    """On-call alerts arrive one a report, all the time: each poll brings one, the last there is. Holding the
    customer alerts back while any came would hold them as long as reports come in."""
    now = [0.0]
    consumer = Consumer(LEGAL, ALERTS)
    gate = DueGate(consumer, clock=lambda: now[0], priority=(LEGAL.topic, ALERTS.topic))  # type: ignore[arg-type]
    passed: list[float] = []
    for step in range(40):  # a poll every 0.25 s for 10 s, each with one on-call alert and the customer alerts
        now[0] = step * 0.25
        consumer.ends = {LEGAL: step + 1, ALERTS: 9_000}
        consumer.next_poll = {LEGAL: [Record(step)]}
        if ALERTS not in consumer.paused():
            consumer.next_poll[ALERTS] = [Record(100)]
        if ALERTS in gate.poll():
            passed.append(now[0])
    assert passed and passed[0] <= LEGAL_GRACE_S + 0.5
    assert all(b - a <= 2 * LEGAL_GRACE_S + 0.5 for a, b in itertools.pairwise(passed))
    assert passed[-1] >= 10 - 2 * LEGAL_GRACE_S - 0.5


def test_a_held_partition_is_paused_only_after_a_poll_that_brought_none_of_it() -> None:
    """kafka-python never reads again a partition paused while the rest of a fetch of it waits in the consumer:
    the poll after the hold drops that rest (stale after the seek back), and what it brings of the partition is
    put back too; only then is it paused."""
    now = [100.0]
    consumer = Consumer(RETRY)
    gate = DueGate(consumer, clock=lambda: now[0])  # type: ignore[arg-type]
    gate.hold(RETRY.topic, RETRY.partition, 7, until=105.0)
    assert consumer.paused() == set()
    consumer.next_poll = {RETRY: [Record(7), Record(8)]}  # fetched again from the offset sought
    assert gate.poll() == {} and consumer.positions[RETRY] == 7 and consumer.paused() == set()
    consumer.next_poll = {}
    gate.poll()
    assert consumer.paused() == {RETRY} and consumer.positions[RETRY] == 7
    now[0] = 105.0
    gate.poll()
    assert consumer.paused() == set() and gate.held == {}
