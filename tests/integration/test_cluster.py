"""A three-node KRaft cluster as ``breachwire kafka up --brokers 3`` runs it: topics made with three replicas and
min.insync.replicas 2; reports published with acks=all before and after the partition's leader is killed (kill
-9) all come back, in order; the killed node starts again on its data folder; the cluster stops cleanly."""

import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.structs import TopicPartition
from support import a_report, wait_until

from breachwire.cli import main
from breachwire.dev import broker
from runtime.kafka import connection, ensure_topics, make_admin, make_producer, publish
from runtime.settings import BrokerSettings, KafkaSettings, load_settings

pytestmark = pytest.mark.integration

NODES = 3


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A settings file naming three nodes of our own (ports, data folders) beside the shared broker, a small heap
    each (two cores); the single broker's folder is ours too, so that `kafka down` leaves the shared one alone."""
    base = broker.free_port_run(2 * NODES)
    folder = tmp_path_factory.mktemp("kafka-cluster")
    path = folder / "settings.toml"
    path.write_text(
        f'[broker]\nport = {base}\ncontroller_port = {base + 1}\nheap = "384m"\n'
        f'cluster_data_dir = "{folder / "nodes"}"\ndata_dir = "{folder / "single"}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def cluster(config: Path) -> Iterator[BrokerSettings]:
    local = load_settings(config).broker.model_copy(update={"brokers": NODES})
    assert broker.start(local)
    yield local
    broker.stop(local)


def _status(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "kafka", "status"])
    return code, capsys.readouterr().out


def _describe(kafka: KafkaSettings, topic: str) -> tuple[dict[str, Any], str]:
    admin = make_admin(kafka)
    try:
        (partition,) = admin.describe_topics([topic])[0]["partitions"]
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, ["min.insync.replicas"])])
        return partition, configs["topic"][topic]["min.insync.replicas"]["value"]
    finally:
        admin.close()


def _read_all(kafka: KafkaSettings, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(**connection(kafka), group_id=None, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        values: list[bytes] = []

        def read() -> bool:
            values.extend(record.value for record in consumer.poll(timeout_ms=500).get(partition, []))
            return len(values) >= expected

        wait_until(read, 30, f"{expected} records on {topic}")
        return values
    finally:
        consumer.close()


def test_acknowledged_reports_survive_the_leader_killed(
    cluster: BrokerSettings, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = broker.nodes(cluster)
    assert len({node.paths.data for node in members}) == NODES
    assert all(broker.node_pid(node) for node in members)
    kafka = broker.client_settings(cluster, KafkaSettings(ack_timeout_s=30))
    assert kafka.bootstrap_servers == ",".join(node.address for node in members)

    assert ensure_topics(kafka, {"incidents": 1}) == ["incidents"]
    partition, min_insync = _describe(kafka, "incidents")
    assert sorted(partition["replica_nodes"]) == [1, 2, 3]
    assert min_insync == "2"

    producer = make_producer(kafka)
    assert producer.config["acks"] in ("all", -1)
    sent = [a_report() for _ in range(5)]
    try:
        for report in sent:
            publish(producer, "incidents", report.reference, report, timeout_s=30)
        leader = next(node for node in members if node.id == partition["leader_id"])
        os.kill(broker.node_pid(leader) or 0, signal.SIGKILL)
        # the two left are a quorum and two in-sync replicas: the next leader takes the writes, acks=all
        after = [a_report() for _ in range(5)]
        for report in after:
            publish(producer, "incidents", report.reference, report, timeout_s=30)
        sent += after
    finally:
        producer.close()
    partition, _ = _describe(kafka, "incidents")
    assert partition["leader_id"] != leader.id
    assert _read_all(kafka, "incidents", len(sent)) == [report.to_json() for report in sent]
    code, out = _status(config, capsys)  # the cluster found by its folders, no --brokers
    assert code == 1
    assert f"Kafka cluster of {NODES} nodes (PLAINTEXT): {NODES - 1} answering" in out
    assert f"node {leader.id} {leader.address}: not running" in out
    assert re.search(r"incidents +3 replicas, 2 in sync +under-replicated", out), out

    # the killed node comes back on its data folder and catches up
    assert broker.node_pid(leader) is None
    assert broker.start(cluster)
    wait_until(lambda: len(_describe(kafka, "incidents")[0]["isr_nodes"]) == NODES, 30, "three in-sync replicas")
    code, out = _status(config, capsys)
    assert code == 0
    assert re.search(r"incidents +3 replicas, 3 in sync\n", out), out


def test_the_replication_factor_setting_wins_over_the_broker_count(cluster: BrokerSettings) -> None:
    kafka = broker.client_settings(cluster, KafkaSettings(replication_factor=2))
    ensure_topics(kafka, {"pairs": 1})
    partition, min_insync = _describe(kafka, "pairs")
    assert len(partition["replica_nodes"]) == 2
    assert min_insync == "1"  # two replicas: one may be away without stopping producers


def test_kafka_down_stops_every_node(cluster: BrokerSettings, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    members = broker.nodes(cluster)
    capsys.readouterr()
    assert main(["--config", str(config), "kafka", "down"]) == 0
    assert capsys.readouterr().out == "Kafka stopped\n"
    assert [broker.node_pid(node) for node in members] == [None] * NODES
    for node in members:
        # nothing listens any more (a bind could still fail: the port may be some connection's local end by now)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((node.host, node.port), timeout=5).close()
    assert not broker.stop(cluster)
    assert not Path(members[0].paths.pid_file).exists()
