"""The intake against the real broker: 202 only once Kafka has the report; clear errors otherwise."""

import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support import LINODE_EU_SECRET, ServeIntake, a_report, read_topic

from consumers.notify.webhook import sign_headers
from producers.intake import create_app
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import IncidentReported, incident_id

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    """The intake's ledger (SQLite, this test's own): it remembers the webhook-ids it accepted."""
    store = Ledger.connect(settings.ledger.url)
    yield store
    store.close()


@pytest.fixture
def client(settings: Settings, datamap: DataMap, ledger: Ledger, serve_intake: ServeIntake) -> TestClient:
    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    return serve_intake(create_app(settings.intake, datamap, publisher, ledger), publisher)


def post(
    client: TestClient,
    body: bytes,
    secret: str = LINODE_EU_SECRET,
    sub: str = "linode-eu",
    headers: dict[str, str] | None = None,
) -> object:
    signed = {"content-type": "application/json", **sign_headers(secret, f"msg_{uuid.uuid4().hex}", body)}
    return client.post(f"/v1/subprocessors/{sub}/reports", content=body, headers=signed | (headers or {}))


def test_a_signed_report_is_accepted_after_kafka_has_it(client: TestClient, settings: Settings) -> None:
    report = a_report()
    response = post(client, report.model_dump_json().encode())
    assert response.status_code == 202  # type: ignore[attr-defined]
    expected_id = incident_id("linode-eu", report.reference)
    assert response.json() == {"incident_id": expected_id, "status": "accepted"}  # type: ignore[attr-defined]
    [record] = read_topic(settings, topics_for(settings.kafka).reported, 1)
    message = IncidentReported.model_validate_json(record.value)
    assert record.key.decode() == expected_id
    assert message.subprocessor_id == "linode-eu"
    assert message.report == report


def test_a_wrong_signature_is_refused(client: TestClient) -> None:
    body = a_report().model_dump_json().encode()
    response = post(client, body, secret="whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]


def test_another_subprocessors_secret_does_not_verify(client: TestClient) -> None:
    body = a_report().model_dump_json().encode()
    response = post(client, body, sub="twilio")  # signed with Linode EU's secret
    assert response.status_code == 401  # type: ignore[attr-defined]


def test_an_invalid_field_gets_422_naming_it(client: TestClient) -> None:
    raw = json.loads(a_report().model_dump_json())
    raw["aware_at"] = "yesterday"
    raw["contact"] = {"name": "Sec", "email": "not-an-email"}
    response = post(client, json.dumps(raw).encode())
    assert response.status_code == 422  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert {e["field"] for e in problem["errors"]} == {"aware_at", "contact.email"}
    assert problem["status"] == 422


def test_bad_json_gets_422(client: TestClient) -> None:
    response = post(client, b'{"reference": "x",')
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert response.json()["errors"][0]["field"] == "body"  # type: ignore[attr-defined]


def test_kafka_not_acknowledging_gets_503_with_retry_after(
    settings: Settings, datamap: DataMap, ledger: Ledger, serve_intake: ServeIntake
) -> None:
    # A producer pointed at a closed port never gets its ack.
    dead = settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1", "ack_timeout_s": 1.0})
    publisher = ReportPublisher(lambda: make_producer(dead), topics_for(dead), 1.0)
    client = serve_intake(create_app(settings.intake, datamap, publisher, ledger), publisher)
    response = post(client, a_report().model_dump_json().encode())
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert response.headers["retry-after"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"regions": ["eu", "eu-west"]}, {"regions[1]"}, id="region"),
        pytest.param({"features": ["helpdesk", "helpdsk"]}, {"features[1]"}, id="feature"),
        pytest.param({"data_categories": ["tickets", "passwords"]}, {"data_categories[1]"}, id="data category"),
        pytest.param(
            {"regions": ["mars"], "features": ["teleport"]}, {"regions[0]", "features[0]"}, id="each one named"
        ),
    ],
)
def test_a_name_the_data_map_does_not_know_gets_422_and_nothing_is_published(
    client: TestClient, settings: Settings, changes: dict[str, list[str]], fields: set[str]
) -> None:
    response = post(client, a_report(**changes).model_dump_json().encode())
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert problem["type"].endswith("/unknown-name")
    assert {e["field"] for e in problem["errors"]} == fields
    assert all("unknown" in e["message"] and "the data map knows" in e["message"] for e in problem["errors"])
    # Refused, not widened: the next (valid) report is the first thing on the topic.
    good = a_report()
    assert post(client, good.model_dump_json().encode()).status_code == 202  # type: ignore[attr-defined]
    [record] = read_topic(settings, topics_for(settings.kafka).reported, 1)
    assert IncidentReported.model_validate_json(record.value).report.reference == good.reference
