"""A consumer loop in its group on the real broker: a topic made a moment before is wholly assigned at the first
join, and a loop whose group membership does not settle (kafka-python can leave a rebalance started by new
partitions unfinished) joins again by itself and reads the new partitions."""

import threading
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaProducer
from kafka.admin import NewPartitions
from kafka.structs import MemberState, TopicPartition
from support import wait_until

from runtime.consumer import ConsumerLoop
from runtime.kafka import delete_topics, ensure_topics, make_admin, make_consumer, make_producer
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import IncidentReported

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(settings: Settings) -> Iterator[str]:
    name = f"{settings.kafka.topic_prefix}group-test.{uuid.uuid4().hex[:8]}"
    yield name
    delete_topics(settings.kafka, [name])


def unparseable(producer: KafkaProducer, topic: str, partition: int, count: int) -> None:
    """Records the loop counts as read (and sends to messages.invalid): all these tests need is that it read."""
    for _ in range(count):
        producer.send(topic, value=b"not json", partition=partition)
    producer.flush(timeout=10)


def test_a_loop_started_right_after_its_topic_is_made_holds_every_partition_at_the_first_join(
    settings: Settings, topic: str
) -> None:
    ensure_topics(settings.kafka, {topic: 3})
    consumer = make_consumer(settings.kafka, f"fresh.{uuid.uuid4().hex}", [topic])
    producer = make_producer(settings.kafka)
    loop = ConsumerLoop("fresh", consumer, producer, topics_for(settings.kafka).invalid, IncidentReported, print)
    try:
        wait_until(lambda: loop.run_once() >= 0 and consumer.group_metadata().state == MemberState.STABLE, 30, "joined")
        # the first generation already holds all three: no second rebalance once the metadata came
        assert consumer.group_metadata().generation_id == 1
        assert {tp.partition for tp in consumer.assignment()} == {0, 1, 2}
    finally:
        consumer.close(autocommit=False)
        producer.close()


def test_a_loop_whose_membership_does_not_settle_after_partitions_are_added_joins_again_and_reads_them(
    settings: Settings, topic: str
) -> None:
    ensure_topics(settings.kafka, {topic: 1})
    # metadata refreshed often, so the new partition is seen at once; polls of 1 ms, so the rebalance that
    # follows outlasts the poll that starts it (what leaves it unfinished)
    group = f"growing.{uuid.uuid4().hex}"
    consumer = make_consumer(settings.kafka, group, [topic], metadata_max_age_ms=500)
    producer = make_producer(settings.kafka)
    loop = ConsumerLoop(
        "growing",
        consumer,
        producer,
        topics_for(settings.kafka).invalid,
        IncidentReported,
        print,
        # (with no rejoining, as before, the new partition is never read)
        settings.kafka.model_copy(update={"poll_timeout_ms": 1, "rejoin_after_s": 3.0}),
    )
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,))
    runner.start()
    admin = make_admin(settings.kafka)
    try:
        unparseable(producer, topic, 0, 2)
        wait_until(lambda: loop.stats.records == 2, 30, "the first partition read")
        admin.create_partitions({topic: NewPartitions(total_count=2)})
        grown = make_producer(settings.kafka)  # (a producer's metadata would not know the new partition yet)
        try:
            wait_until(lambda: 1 in grown.partitions_for(topic), 30, "the new partition known")
            unparseable(grown, topic, 1, 3)
        finally:
            grown.close()
        # read and committed; counting records would not do: joining again reads anew what the unfinished
        # rebalance kept from being committed (at least once)
        added, group_id = TopicPartition(topic, 1), f"{settings.kafka.group_prefix}.{group}"

        def committed_on_added() -> int:
            offsets = admin.list_group_offsets({group_id: [added]}).get(group_id, {})
            return offsets[added].offset if added in offsets else -1

        wait_until(lambda: committed_on_added() == 3, 60, "the added partition read")
        wait_until(lambda: loop.stats.unsettled_since == 0.0, 30, "membership settled")
    finally:
        stop.set()
        runner.join(30)
        admin.close()
        producer.close()
