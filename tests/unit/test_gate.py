"""The due gate's holds, on a stand-in for the consumer's pause/seek/resume bookkeeping (the reading itself is
tested against the real broker in tests/integration/test_delivery.py)."""

import math
from typing import Any

from kafka import TopicPartition

from consumers.notify.gate import DueGate

ALERTS = TopicPartition("notices.alerts", 0)
RETRY = TopicPartition("notices.retry.5s", 0)


class Consumer:
    """What the gate asks of a KafkaConsumer: assignment, seek, pause, resume, paused, poll."""

    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned)
        self.paused_ = set[TopicPartition]()
        self.positions: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_ |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_ -= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_)

    def poll(self, timeout_ms: int = 0, **_: Any) -> dict[TopicPartition, list[Any]]:
        return {}


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
