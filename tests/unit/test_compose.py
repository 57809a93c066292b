"""docker-compose.yml is a valid Compose file and has the production shape that DESIGN.md describes.

Schema: compose-spec/compose-spec, schema/compose-spec.json, commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6.
"""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
APP_SERVICES = ("intake", "assess", "notify", "record", "clock")


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
        for dependency in ("kafka", "postgres"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy"
        environment: dict[str, str] = service["environment"]
        assert environment["BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert environment["BREACHWIRE_LEDGER__URL"].startswith("postgresql+psycopg://breachwire:")
        assert environment["BREACHWIRE_LEDGER__URL"].endswith("@postgres:5432/breachwire")
    assert "8080:8080" in services["intake"]["ports"]


def test_kafka_is_a_single_kraft_node_with_replication_factor_one(compose: dict[str, Any]) -> None:
    kafka: dict[str, Any] = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    environment: dict[str, str] = kafka["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{environment['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER" in environment["KAFKA_CONTROLLER_LISTENER_NAMES"]
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
    ):
        assert environment[key] == "1", key
    assert "healthcheck" in kafka


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
