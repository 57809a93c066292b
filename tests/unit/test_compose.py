"""docker-compose.yml is a valid Compose file and has the production shape that DESIGN.md describes.

Schema: compose-spec/compose-spec, schema/compose-spec.json, commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6.
"""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runtime.settings import MetricsSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
DEPLOY = ROOT / "deploy" / "kafka"
APP_SERVICES = ("intake", "assess", "notify", "record", "clock", "console")
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def _errors(validator: jsonschema.Draft7Validator, document: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_schema_declares_draft_7(schema: dict[str, Any]) -> None:
    assert "draft-07" in schema["$schema"]


def test_compose_file_is_valid(validator: jsonschema.Draft7Validator, compose: dict[str, Any]) -> None:
    assert _errors(validator, compose) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"services": {"x": {"ports": 5}}},
        {"services": {"x": {"image": "busybox", "depends_on": {"y": {"condition": "when_ready"}}}}},
        {"services": {"x": {"image": "busybox", "no_such_key": True}}},
    ],
)
def test_validator_rejects_a_broken_document(validator: jsonschema.Draft7Validator, broken: object) -> None:
    assert _errors(validator, broken) != []


def test_app_services_share_one_build_and_run_their_own_service(compose: dict[str, Any]) -> None:
    services: dict[str, dict[str, Any]] = compose["services"]
    builds = [services[name]["build"] for name in APP_SERVICES]
    assert all(build == builds[0] for build in builds)
    assert builds[0]["dockerfile"] == "Dockerfile"
    assert len({services[name]["image"] for name in APP_SERVICES}) == 1
    for name in APP_SERVICES:
        service = services[name]
        assert service["command"] == ["breachwire", "run", name]
        for dependency in (*KAFKA_NODES, "postgres"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy"
        environment: dict[str, str] = service["environment"]
        # every node, so that a service starts while any one of them is down
        assert environment["BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS"] == ",".join(f"{n}:9092" for n in KAFKA_NODES)
        assert environment["BREACHWIRE_LEDGER__URL"].startswith("postgresql+psycopg://breachwire:")
        assert environment["BREACHWIRE_LEDGER__URL"].endswith("@postgres:5432/breachwire")
    assert "8080:8080" in services["intake"]["ports"]


def service_ports() -> dict[str, int]:
    """The port each app service answers /metrics, /healthz and /readyz on in the compose deployment."""
    metrics = MetricsSettings()
    return {"intake": 8080, "console": 8090} | {
        name: metrics.port(name) for name in ("assess", "notify", "record", "clock")
    }


def test_every_app_service_is_healthy_only_when_alive_and_ready(compose: dict[str, Any]) -> None:
    """Each healthcheck asks the service's own /healthz and /readyz, on the port the service serves them."""
    services: dict[str, dict[str, Any]] = compose["services"]
    ports = service_ports()
    assert services["intake"]["environment"]["BREACHWIRE_INTAKE__PORT"] == "8080"
    assert services["console"]["environment"]["BREACHWIRE_CONSOLE__PORT"] == "8090"
    # scraped by a Prometheus on the network, not only from inside the container
    assert services["notify"]["environment"]["BREACHWIRE_METRICS__HOST"] not in ("127.0.0.1", "localhost")
    for name in APP_SERVICES:
        check = services[name]["healthcheck"]
        assert check["test"][:3] == ["CMD", "python", "-c"], name
        script = check["test"][3]
        assert re.findall(r"http://127\.0\.0\.1:(\d+)/", script) == [str(ports[name])], name
        assert "'healthz', 'readyz'" in script, name
        compile(script, name, "exec")  # the one-liner is Python
        assert int(check["retries"]) >= 3, name


def test_prometheus_scrapes_every_app_service_on_the_port_it_serves_metrics_on(compose: dict[str, Any]) -> None:
    prometheus: dict[str, Any] = compose["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    ports = service_ports()
    # by DNS: every container of a scaled service (the alerts name the jobs breachwire-*)
    scraped = {
        job["job_name"]: [(d["names"], d["type"], d["port"]) for d in job["dns_sd_configs"]]
        for job in config["scrape_configs"]
    }
    assert scraped == {f"breachwire-{name}": [([name], "A", port)] for name, port in ports.items()}
    assert set(ports) == set(APP_SERVICES)


def _properties(path: Path) -> dict[str, str]:
    """A Java properties file as Kafka reads it (comments, ``key=value``, backslash-continued lines)."""
    text = re.sub(r"\\\n\s*", "", path.read_text(encoding="utf-8"))
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@pytest.fixture(scope="module")
def kafka_config(compose: dict[str, Any]) -> dict[str, str]:
    """The nodes' shared server.properties: the file their start script begins each node's settings with."""
    for name in KAFKA_NODES:
        kafka: dict[str, Any] = compose["services"][name]
        assert kafka["command"] == ["/bin/sh", "/opt/breachwire/start.sh"], name
        assert f"./{DEPLOY.relative_to(ROOT)}:/opt/breachwire:ro" in kafka["volumes"], name
    assert "/opt/breachwire/server.properties" in (DEPLOY / "start.sh").read_text(encoding="utf-8")
    return _properties(DEPLOY / "server.properties")


def _node_config(compose: dict[str, Any], kafka_config: dict[str, str], name: str) -> dict[str, str]:
    """One node's settings as start.sh writes them: the shared file, then its id and advertised addresses."""
    environment: dict[str, str] = compose["services"][name]["environment"]
    return kafka_config | {
        "node.id": environment["KAFKA_NODE_ID"],
        "advertised.listeners": environment["KAFKA_ADVERTISED_LISTENERS"],
    }


def _listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` as {NAME: "host:port"}."""
    return dict(entry.split("://", 1) for entry in value.split(","))


def test_kafka_is_three_kraft_nodes_with_three_replicas_and_two_in_sync(
    compose: dict[str, Any], kafka_config: dict[str, str]
) -> None:
    services: dict[str, dict[str, Any]] = compose["services"]
    voters = dict(voter.split("@") for voter in kafka_config["controller.quorum.voters"].split(","))
    assert set(kafka_config["process.roles"].split(",")) == {"broker", "controller"}
    assert "CONTROLLER" in kafka_config["controller.listener.names"]
    controller_port = _listeners(kafka_config["listeners"])["CONTROLLER"].rpartition(":")[2]
    data_volumes = set()
    for name in KAFKA_NODES:
        kafka = services[name]
        node = _node_config(compose, kafka_config, name)
        assert kafka["image"].startswith("apache/kafka:"), name
        assert kafka["hostname"] == name
        # every node a voter, at the address the others reach its controller on
        assert voters[node["node.id"]] == f"{name}:{controller_port}", name
        assert _listeners(node["advertised.listeners"])["CLIENT"] == f"{name}:9092", name
        assert kafka["environment"]["KAFKA_CLUSTER_ID"] == services["kafka-1"]["environment"]["KAFKA_CLUSTER_ID"]
        (data,) = [v.split(":")[0] for v in kafka["volumes"] if v.endswith(":/var/lib/kafka/data")]
        data_volumes.add(data)
        assert data in compose["volumes"]
        assert "healthcheck" in kafka, name
    assert len(voters) == len(KAFKA_NODES) and len(data_volumes) == len(KAFKA_NODES)
    assert len({services[name]["image"] for name in KAFKA_NODES}) == 1
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert kafka_config[key] == "3", key
    for key in ("min.insync.replicas", "transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr"):
        assert kafka_config[key] == "2", key
    assert kafka_config["log.dirs"] == "/var/lib/kafka/data"
    assert "node.id=%s" in (DEPLOY / "start.sh").read_text(encoding="utf-8")


def test_kafka_serves_clients_only_over_sasl_ssl_with_scram(
    compose: dict[str, Any], kafka_config: dict[str, str]
) -> None:
    protocols = dict(pair.split(":") for pair in kafka_config["listener.security.protocol.map"].split(","))
    listeners = _listeners(kafka_config["listeners"])
    controller = kafka_config["controller.listener.names"]
    for name in listeners:
        if name == controller:
            # the nodes reach each other's controllers over mutual TLS: a key the CA signed, or nothing
            assert protocols[name] == "SSL"
            assert kafka_config[f"listener.name.{name.lower()}.ssl.client.auth"] == "required"
        else:
            assert protocols[name] == "SASL_SSL", name
            assert f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config" in kafka_config
    assert kafka_config["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert protocols[kafka_config["inter.broker.listener.name"]] == "SASL_SSL"
    assert kafka_config["ssl.keystore.location"].startswith("/etc/kafka/secrets/")
    # every secret comes from the environment, none is written down
    for key, value in kafka_config.items():
        if "password" in key or "jaas" in key:
            assert "password" not in value or "${env:" in value, key
    assert listeners["HOST"].endswith(":9094")
    for node_name in KAFKA_NODES:
        kafka: dict[str, Any] = compose["services"][node_name]
        # each node's HOST listener on a host port of its own (loopback only), advertised as that port
        (published,) = kafka["ports"]
        host_port = published.split(":")[1]
        assert published == f"127.0.0.1:{host_port}:9094", node_name
        advertised = _listeners(_node_config(compose, kafka_config, node_name)["advertised.listeners"])
        assert advertised["HOST"] == f"localhost:{host_port}", node_name
        assert "--command-config" in " ".join(kafka["healthcheck"]["test"])
        for name in ("KAFKA_BROKER_PASSWORD", "KAFKA_CLIENT_PASSWORD", "KAFKA_TLS_PASSWORD"):
            assert kafka["environment"][name] == f"${{{name}:?set {name} in .env}}", name  # no default password
    assert len({compose["services"][name]["ports"][0] for name in KAFKA_NODES}) == len(KAFKA_NODES)
    health = _properties(DEPLOY / "healthcheck.properties")
    assert health["security.protocol"] == "SASL_SSL"


def test_the_services_sign_in_and_check_the_brokers_certificate(
    compose: dict[str, Any], kafka_config: dict[str, str]
) -> None:
    services: dict[str, dict[str, Any]] = compose["services"]
    protocols = dict(pair.split(":") for pair in kafka_config["listener.security.protocol.map"].split(","))
    advertised = {
        bound: listener
        for node in KAFKA_NODES
        for listener, bound in _listeners(_node_config(compose, kafka_config, node)["advertised.listeners"]).items()
    }
    names = re.search(r"TLS_NAMES: \"([^\"]+)\"", COMPOSE_FILE.read_text(encoding="utf-8"))
    assert names is not None
    certified = {name.removeprefix("dns:") for name in names.group(1).split(",")}
    users = re.findall(r"name=([^,\]]+)", (DEPLOY / "start.sh").read_text(encoding="utf-8"))
    tls = services["kafka-tls"]
    ca_volume = next(v.split(":")[0] for v in tls["volumes"] if v.split(":")[1] == "/etc/breachwire/kafka")
    for name in APP_SERVICES:
        environment: dict[str, str] = services[name]["environment"]
        # nothing connects PLAINTEXT: every address a service dials is a SASL_SSL listener, and it signs in; the
        # one certificate names every node, so the hostname check passes on each
        for address in environment["BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS"].split(","):
            assert protocols[advertised[address]] == "SASL_SSL", name
            assert address.rpartition(":")[0] in certified, address
        assert environment["BREACHWIRE_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert environment["BREACHWIRE_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert environment["BREACHWIRE_KAFKA__USERNAME"] in users, name
        assert environment["BREACHWIRE_KAFKA__PASSWORD"].startswith("${KAFKA_CLIENT_PASSWORD:?"), name
        assert environment.get("BREACHWIRE_KAFKA__CHECK_HOSTNAME", "true") == "true", name
        cafile = Path(environment["BREACHWIRE_KAFKA__SSL_CAFILE"])
        assert f"{ca_volume}:{cafile.parent}:ro" in services[name]["volumes"], name
    for node in KAFKA_NODES:
        assert services[node]["depends_on"]["kafka-tls"]["condition"] == "service_completed_successfully"
    assert tls["entrypoint"] == ["/bin/sh", "/opt/breachwire/tls.sh"]
    # the broker's key stores never reach a service: the CA volume carries its certificate only
    assert not any(v.startswith("kafka-tls:") for name in APP_SERVICES for v in services[name]["volumes"])


def test_postgres_and_mailpit(compose: dict[str, Any]) -> None:
    services: dict[str, dict[str, Any]] = compose["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "healthcheck" in postgres
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-breachwire}"
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    ports = " ".join(services["mailpit"]["ports"])
    assert "1025:1025" in ports
    assert "8025:8025" in ports


def test_the_audit_key_comes_from_env_and_the_checkpoints_outlive_the_record_container(
    compose: dict[str, Any],
) -> None:
    services: dict[str, dict[str, Any]] = compose["services"]
    for name in APP_SERVICES:
        environment: dict[str, str] = services[name]["environment"]
        assert environment["BREACHWIRE_AUDIT__KEY"] == "${AUDIT_KEY:?set AUDIT_KEY in .env}", name  # no default key
    volume = next(v.split(":")[0] for v in services["record"]["volumes"] if v.split(":")[1] == "/app/.breachwire")
    assert volume in compose["volumes"] and volume != "postgres-data"
