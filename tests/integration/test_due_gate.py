"""The due gate on the real broker: a partition held right after a poll that returned only part of what the
consumer had fetched of it is read again, from the record held, once its hold ends. (kafka-python 3.0.12 never
reads again a partition paused in that state once resumed: the gate pauses only after a poll that brought
none of it.)"""

import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, TopicPartition

from consumers.notify.gate import DueGate
from runtime.kafka import connection, delete_topics, ensure_topics, make_producer
from runtime.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(settings: Settings) -> Iterator[str]:
    name = f"{settings.kafka.topic_prefix}gate-test.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings.kafka, {name: 2})
    yield name
    delete_topics(settings.kafka, [name])


def test_a_partition_held_after_a_partial_poll_is_read_again_from_the_held_record(
    settings: Settings, topic: str
) -> None:
    producer = make_producer(settings.kafka)
    for i in range(100):
        for partition in (0, 1):
            producer.send(topic, value=f"record {i}".encode(), partition=partition)
    producer.flush(timeout=10)
    producer.close()
    both = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    consumer = KafkaConsumer(**connection(settings.kafka), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=10)  # fmt: skip
    consumer.assign(both)
    gate = DueGate(consumer)
    read: dict[TopicPartition, list[int]] = {tp: [] for tp in both}
    try:
        first: dict[TopicPartition, list[object]] = {}
        deadline = time.monotonic() + 20
        while not first and time.monotonic() < deadline:
            first = gate.poll(timeout_ms=200)
        held = next(iter(first))  # ten of the hundred fetched of it: the rest waits in the consumer
        gate.hold(held.topic, held.partition, 0, until=time.time() + 1)
        # the other partition is read meanwhile, then the held one, from the record held
        deadline = time.monotonic() + 20
        while any(len(offsets) < 100 for offsets in read.values()) and time.monotonic() < deadline:
            for tp, records in gate.poll(timeout_ms=200).items():
                read[tp] += [r.offset for r in records]
        assert read == {tp: list(range(100)) for tp in both}
    finally:
        consumer.close()
