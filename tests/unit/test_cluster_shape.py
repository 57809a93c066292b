"""The local cluster's shape: each node its own ports and data folder, one quorum of all; the replication rule."""

from pathlib import Path

import pytest

from breachwire.cli import main
from breachwire.dev import broker
from runtime.kafka import min_insync_replicas
from runtime.settings import BrokerSettings


def test_three_nodes_take_their_own_ports_and_folders(tmp_path: Path) -> None:
    settings = BrokerSettings(brokers=3, cluster_data_dir=tmp_path)
    members = broker.nodes(settings)
    assert [(node.id, node.port, node.controller_port) for node in members] == [
        (1, 9092, 9093),
        (2, 9094, 9095),
        (3, 9096, 9097),
    ]
    assert [node.paths.data for node in members] == [tmp_path / f"node-{n}" for n in (1, 2, 3)]
    assert broker.address(settings) == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert broker.client_settings(settings).bootstrap_servers == broker.address(settings)


def test_one_broker_stays_where_it_was(tmp_path: Path) -> None:
    (node,) = broker.nodes(BrokerSettings(data_dir=tmp_path))
    assert (node.id, node.port, node.controller_port, node.paths.data) == (1, 9092, 9093, tmp_path)


def test_overlapping_ports_are_refused() -> None:
    with pytest.raises(broker.BrokerError, match="overlapping ports"):
        broker.nodes(BrokerSettings(brokers=3, port=9092, controller_port=9094))


def test_a_cluster_with_auth_is_refused_before_any_download(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f'[broker]\ncache_dir = "{tmp_path / "cache"}"\n', encoding="utf-8")
    assert main(["--config", str(config), "kafka", "up", "--auth", "--brokers", "3"]) == 1
    assert "--auth runs a single broker" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_cluster_size_counts_the_node_folders(tmp_path: Path) -> None:
    settings = BrokerSettings(cluster_data_dir=tmp_path)
    assert broker.cluster_size(settings) == 0
    for n in (1, 2, 3):
        (tmp_path / f"node-{n}").mkdir()
    assert broker.cluster_size(settings) == 3


@pytest.mark.parametrize(("replicas", "min_insync"), [(1, 1), (2, 1), (3, 2), (5, 3)])
def test_min_insync_replicas_is_a_majority_from_three_replicas(replicas: int, min_insync: int) -> None:
    assert min_insync_replicas(replicas) == min_insync


def test_a_new_cluster_id_never_reads_as_an_option() -> None:
    # One in 64 random ids would start with "-": the storage tool then took it for an option and refused to format.
    ids = [broker.new_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
