"""Kafka clients as breachwire uses them: acks=all producers, manual-commit consumers, topics made on demand."""

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterable
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2
from kafka.structs import TopicPartition

from runtime.settings import KafkaSettings
from schemas.common import Message

log = structlog.get_logger(__name__)


class PublishError(RuntimeError):
    """Kafka did not acknowledge a message in time; nothing may be promised to the sender."""


def connection(settings: KafkaSettings) -> dict[str, Any]:
    """Where and how every client connects (kafka-python's keyword arguments): the one place that turns the
    settings' broker address, TLS and SASL sign-in into a client's configuration."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol == "SASL_SSL":
        # (KafkaSettings refuses SASL_SSL without a username and password)
        config.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.username,
            sasl_plain_password=settings.password.get_secret_value() if settings.password else None,
            ssl_cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
            ssl_check_hostname=settings.check_hostname,
        )
    return config


def make_admin(settings: KafkaSettings, **extra: Any) -> KafkaAdminClient:
    return KafkaAdminClient(**(connection(settings) | extra))


def make_producer(settings: KafkaSettings) -> KafkaProducer:
    return KafkaProducer(
        **connection(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        # An assessment queues a million messages at once: bigger batches per partition made producing them
        # 40% faster (measured); a lone message still leaves after linger_ms.
        batch_size=256 * 1024,
        retries=2**31 - 1,
        request_timeout_ms=int(settings.ack_timeout_s * 1000),
        # send() waits this long for metadata when the broker is away: bound it like the ack itself
        max_block_ms=int(settings.ack_timeout_s * 1000),
        bootstrap_timeout_ms=int(settings.ack_timeout_s * 1000),
        delivery_timeout_ms=int(settings.ack_timeout_s * 1000) + 5000,
    )


def publish(producer: KafkaProducer, topic: str, key: str, message: Message, timeout_s: float) -> Any:
    """Send one message and wait until every in-sync replica has it (acks=all)."""
    try:
        return producer.send(topic, key=key.encode(), value=message.to_json()).get(timeout=timeout_s)
    except KafkaError as exc:
        raise PublishError(f"{topic}: not acknowledged: {exc}") from exc


def send(producer: KafkaProducer, topic: str, key: str, message: Message) -> Any:
    """Queue one message; the caller flushes (and so waits for every ack) before it commits."""
    return producer.send(topic, key=key.encode(), value=message.to_json())


async def acknowledged(future: Any, topic: str, timeout_s: float) -> Any:
    """Wait until Kafka acknowledged a message ``send`` queued, as ``publish`` does but on the event loop: the
    producer's own thread hands the outcome over, so no thread waits per message."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[Any] = loop.create_future()

    def hand_over(settle: Any, value: Any) -> None:
        def settle_once() -> None:
            if not outcome.done():  # given up on meanwhile (timed out, cancelled)
                settle(value)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle_once)

    future.add_callback(hand_over, outcome.set_result)
    future.add_errback(hand_over, outcome.set_exception)
    try:
        return await asyncio.wait_for(outcome, timeout_s)
    except TimeoutError:
        raise PublishError(f"{topic}: not acknowledged within {timeout_s:g} s") from None
    except KafkaError as exc:
        raise PublishError(f"{topic}: not acknowledged: {exc}") from exc


def make_consumer(settings: KafkaSettings, group: str, topics: Iterable[str], **extra: Any) -> KafkaConsumer:
    config: dict[str, Any] = {
        **connection(settings),
        "group_id": f"{settings.group_prefix}.{group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 200,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
    }
    config.update(extra)
    consumer = KafkaConsumer(**config)
    subscribed = list(topics)
    _await_partitions(consumer, subscribed, settings.ack_timeout_s)
    consumer.subscribe(subscribed)
    return consumer


def _await_partitions(consumer: KafkaConsumer, topics: list[str], timeout_s: float) -> None:
    """Wait until the consumer's metadata knows each topic's partitions. The group leader assigns partitions from
    its own metadata: a member that joins before its first metadata answer arrives is given nothing, and must at
    once rebalance again when the answer comes (a second rebalance kafka-python can leave unfinished; the loop
    then joins again, see ``Batches``). Topics are made before consumers start, so this is a moment's wait."""
    deadline = time.monotonic() + timeout_s
    missing = topics
    while missing := [t for t in missing if not consumer.partitions_for_topic(t)]:
        if time.monotonic() > deadline:
            log.warning("subscribing to topics Kafka does not know yet", topics=missing)
            return
        time.sleep(0.2)


def read_key(settings: KafkaSettings, topic: str, key: str, timeout_s: float) -> list[bytes]:
    """Every value written under ``key`` so far, oldest first: the key's partition, from its start to its end
    when the read began. Raises TimeoutError when that takes longer than ``timeout_s``."""
    wanted = key.encode()
    consumer = KafkaConsumer(**connection(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        # The producers' default partitioner: murmur2 of the key, as Kafka's Java client does.
        partition = TopicPartition(topic, (murmur2(wanted) & 0x7FFFFFFF) % len(partitions))
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while consumer.position(partition) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: reading {key!r} took longer than {timeout_s:.0f} s")
            for record in consumer.poll(timeout_ms=500).get(partition, []):
                if record.offset < end and record.key == wanted:
                    values.append(record.value)
        return values
    finally:
        consumer.close()


def min_insync_replicas(replication_factor: int) -> int:
    """How many replicas must have a message before acks=all answers: a majority from three replicas up, so one
    broker may fail (or be restarted) without stopping producers and no acknowledged message lives on one disk
    alone; with one or two replicas, one (two would stop every producer while either broker is away)."""
    return 1 if replication_factor < 3 else replication_factor // 2 + 1


def replication(settings: KafkaSettings, admin: KafkaAdminClient) -> tuple[int, int]:
    """The replication factor and min.insync.replicas of topics created: ``kafka.replication_factor``, else the
    cluster's broker count, at most 3."""
    factor = settings.replication_factor or min(3, len(admin.describe_cluster()["brokers"]))
    return factor, min_insync_replicas(factor)


def ensure_topics(settings: KafkaSettings, partitions: dict[str, int]) -> list[str]:
    """Create the topics that do not exist yet, replicated as ``replication`` says; returns the names created."""
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        names = [name for name in partitions if name not in existing]
        if names:
            factor, min_insync = replication(settings, admin)
            missing = [
                NewTopic(
                    name=name,
                    num_partitions=partitions[name],
                    replication_factor=factor,
                    topic_configs={"min.insync.replicas": str(min_insync)},
                )
                for name in names
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # another process made them meanwhile
                admin.create_topics(missing)
            # The broker answers before its metadata shows the new topics; a consumer that joined its group in
            # between got no partitions of them, and would look again only at its next metadata refresh (5 min).
            admin.wait_for_topics(names, timeout_ms=30_000)
            log.info("topics created", topics=names, replication_factor=factor, min_insync_replicas=min_insync)
        return names
    finally:
        admin.close()


def delete_topics(settings: KafkaSettings, names: Iterable[str]) -> None:
    """Delete topics that exist among ``names`` (tests clean up after themselves with it)."""
    admin = make_admin(settings)
    try:
        doomed = sorted(set(names) & set(admin.list_topics()))
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def group_members(admin: KafkaAdminClient, group: str) -> int:
    """How many consumers share ``group``'s partitions: its members once the group is Stable, else 0 (while it
    rebalances, a member may hold none yet). Also 0 while the broker cannot name the group's coordinator yet: a
    fresh broker makes its offsets topic on the first group's request and answers "not available" until then."""
    try:
        described = admin.describe_groups([group]).get(group, {})
    except KafkaError as exc:
        if exc.retriable:
            return 0
        raise
    return len(described.get("members") or []) if described.get("group_state") == "Stable" else 0


def is_answering(kafka: KafkaSettings, timeout_s: float = 3.0) -> bool:
    """True when the broker ``kafka`` names (the first of its list) answers a metadata request, signed in as
    ``kafka`` says."""
    host, _, port = kafka.bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            pass
    except (OSError, ValueError):
        return False
    try:
        wait_ms = int(timeout_s * 1000)
        admin = make_admin(kafka, request_timeout_ms=wait_ms, bootstrap_timeout_ms=wait_ms, client_id="probe")
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def replicas_in_sync(settings: KafkaSettings) -> dict[str, tuple[int, int]]:
    """Each topic's replication factor and the fewest replicas in sync of any of its partitions: fewer in sync
    than replicas is an under-replicated topic (a node away, or catching up)."""
    admin = make_admin(settings)
    try:
        described = admin.describe_topics(admin.list_topics())
    finally:
        admin.close()
    return {
        topic["name"]: (
            min(len(partition["replica_nodes"]) for partition in topic["partitions"]),
            min(len(partition["isr_nodes"]) for partition in topic["partitions"]),
        )
        for topic in described
        if topic["partitions"]
    }


def list_topics(settings: KafkaSettings) -> list[str]:
    admin = make_admin(settings)
    try:
        return sorted(admin.list_topics())
    finally:
        admin.close()
