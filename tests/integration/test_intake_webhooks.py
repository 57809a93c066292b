"""The hardened intake on the real broker: rotation, timestamps, replay and idempotency, limits, problem+json."""

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support import ServeIntake, a_report, read_topic

from consumers.notify.webhook import sign_headers
from producers.intake import create_app
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.datamap.models import Subprocessor
from runtime.kafka import make_producer
from runtime.settings import KafkaSettings, Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import IncidentReported, Report

pytestmark = pytest.mark.integration

OLD = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA=="
NEW = "whsec_bmV3LXNlY3JldC1iZWluZy1yb3RhdGVkLWluLTI="
OTHER = "whsec_YW5vdGhlci1zdWJwcm9jZXNzb3JzLXNlY3JldC0z"


def a_datamap(base: DataMap, secrets: list[str]) -> DataMap:
    """The example data map, with subprocessor ``acme-infra`` holding ``secrets`` and ``other`` holding OTHER."""
    subs = [
        Subprocessor(id="acme-infra", name="Acme", kind="infrastructure", regions=["eu"], webhook_secrets=secrets),
        Subprocessor(id="other", name="Other", kind="infrastructure", regions=["eu"], webhook_secrets=[OTHER]),
    ]
    return DataMap(list(base.subprocessors.values()) + subs, base.customers.values())


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    store = Ledger.connect(settings.ledger.url)
    yield store
    store.close()


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(serve_intake: ServeIntake) -> MakeClient:
    """An intake on the test's broker (or ``kafka``'s), with ``intake`` settings changed."""

    def make(
        settings: Settings, datamap: DataMap, ledger: Ledger, kafka: KafkaSettings | None = None, **intake: Any
    ) -> TestClient:
        kafka = kafka or settings.kafka
        publisher = ReportPublisher(lambda: make_producer(kafka), topics_for(kafka), kafka.ack_timeout_s)
        return serve_intake(
            create_app(settings.intake.model_copy(update=intake), datamap, publisher, ledger), publisher
        )

    return make


@pytest.fixture
def client(settings: Settings, datamap: DataMap, ledger: Ledger, make_client: MakeClient) -> TestClient:
    return make_client(settings, a_datamap(datamap, [OLD, NEW]), ledger)


def post(
    client: TestClient,
    body: bytes,
    secret: str = NEW,
    sub: str = "acme-infra",
    msg_id: str | None = None,
    at: datetime | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = {"content-type": content_type, **sign_headers(secret, msg_id or f"msg_{uuid.uuid4().hex}", body, at)}
    return client.post(f"/v1/subprocessors/{sub}/reports", content=body, headers=headers)


def body_of(report: Report | None = None) -> bytes:
    return (report or a_report()).model_dump_json().encode()


def published(settings: Settings, expected: int) -> list[IncidentReported]:
    records = read_topic(settings, topics_for(settings.kafka).reported, expected, timeout_s=5 if expected else 2)
    return [IncidentReported.model_validate_json(r.value) for r in records]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://")
    return problem


def test_both_secrets_verify_while_rotating_and_the_old_one_stops_after(
    settings: Settings, datamap: DataMap, ledger: Ledger, client: TestClient, make_client: MakeClient
) -> None:
    assert post(client, body_of(), secret=OLD).status_code == 202
    assert post(client, body_of(), secret=NEW).status_code == 202
    rotated = make_client(settings, a_datamap(datamap, [NEW]), ledger)
    assert_problem(post(rotated, body_of(), secret=OLD), 401)
    assert post(rotated, body_of(), secret=NEW).status_code == 202


def test_identity_comes_from_the_secret_not_from_the_body(client: TestClient, settings: Settings) -> None:
    raw = json.loads(body_of())
    raw["subprocessor_id"] = "other"
    assert_problem(post(client, json.dumps(raw).encode()), 422)  # the body cannot name a sender at all
    # another subprocessor's secret does not make a report of ours, nor does ours make one of theirs
    assert_problem(post(client, body_of(), secret=OTHER, sub="acme-infra"), 401)
    assert_problem(post(client, body_of(), secret=NEW, sub="other"), 401)
    assert post(client, body_of(), secret=OTHER, sub="other").status_code == 202
    [message] = published(settings, 1)
    assert message.subprocessor_id == "other"


@pytest.mark.parametrize("minutes", [6, -6])
def test_a_timestamp_more_than_5_minutes_off_is_refused(client: TestClient, minutes: int) -> None:
    problem = assert_problem(post(client, body_of(), at=datetime.now(UTC) - timedelta(minutes=minutes)), 401)
    assert "webhook-timestamp" in problem["detail"]


def test_a_timestamp_4_minutes_off_is_accepted(client: TestClient) -> None:
    assert post(client, body_of(), at=datetime.now(UTC) - timedelta(minutes=4)).status_code == 202


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_signature_header_is_refused(client: TestClient, missing: str) -> None:
    body = body_of()
    headers = {"content-type": "application/json", **sign_headers(NEW, "msg_1", body)}
    del headers[missing]
    problem = assert_problem(client.post("/v1/subprocessors/acme-infra/reports", content=body, headers=headers), 401)
    assert missing in problem["detail"]


def test_a_tampered_body_is_refused(client: TestClient) -> None:
    body = body_of()
    headers = {"content-type": "application/json", **sign_headers(NEW, "msg_2", body)}
    tampered = body.replace(b"Storage", b"Sturage")
    assert_problem(client.post("/v1/subprocessors/acme-infra/reports", content=tampered, headers=headers), 401)


def test_an_unknown_subprocessor_is_refused(client: TestClient) -> None:
    assert_problem(post(client, body_of(), sub="nobody"), 401)


def test_a_repeated_webhook_id_gets_the_same_answer_and_is_published_once(
    client: TestClient, settings: Settings
) -> None:
    body = body_of()
    first = post(client, body, msg_id="msg_same")
    again = post(client, body, msg_id="msg_same", at=datetime.now(UTC) + timedelta(seconds=30))
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    other = post(client, body_of(), msg_id="msg_other")
    assert other.status_code == 202
    messages = published(settings, 3)  # asks for more than should be there: waits, then sees two
    assert [m.delivery_id for m in messages].count("msg_same") == 1
    assert len(messages) == 2


def test_the_answer_to_a_delivery_survives_a_restart(
    settings: Settings, datamap: DataMap, ledger: Ledger, client: TestClient, make_client: MakeClient
) -> None:
    body = body_of()
    first = post(client, body, msg_id="msg_restart")
    reopened = Ledger.connect(settings.ledger.url)
    restarted = make_client(settings, a_datamap(datamap, [NEW]), reopened)
    again = post(restarted, body, msg_id="msg_restart")
    assert again.status_code == 202 and again.json() == first.json()
    assert len(published(settings, 2)) == 1


def test_identical_deliveries_at_once_are_published_once(client: TestClient, settings: Settings) -> None:
    body = body_of()
    headers = {"content-type": "application/json", **sign_headers(NEW, "msg_race", body)}
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(client.post("/v1/subprocessors/acme-infra/reports", content=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(8)]
    with client:  # one event loop for every request, as in the server
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1
    assert len(published(settings, 2)) == 1


def test_a_body_over_256_kib_gets_413(client: TestClient) -> None:
    big = body_of(a_report(description="x" * 19_000)) + b" " * (256 * 1024)
    assert_problem(post(client, big), 413)


def test_a_chunked_body_over_the_limit_gets_413(client: TestClient) -> None:
    big = body_of() + b" " * (256 * 1024)
    headers = {"content-type": "application/json", **sign_headers(NEW, "msg_chunked", big)}
    response = client.post(
        "/v1/subprocessors/acme-infra/reports", content=iter([big[:1000], big[1000:]]), headers=headers
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_json_gets_415(client: TestClient, content_type: str) -> None:
    assert_problem(post(client, body_of(), content_type=content_type), 415)


def test_json_with_a_charset_and_a_json_suffix_is_accepted(client: TestClient) -> None:
    assert post(client, body_of(), content_type="application/json; charset=utf-8").status_code == 202
    assert post(client, body_of(), content_type="application/vnd.report+json").status_code == 202


def test_an_invalid_field_gets_422_naming_it(client: TestClient) -> None:
    raw = json.loads(body_of())
    raw["regions"] = ["EU!"]
    raw["status"] = "on-fire"
    problem = assert_problem(post(client, json.dumps(raw).encode()), 422)
    assert {e["field"] for e in problem["errors"]} == {"regions[0]", "status"}


def test_over_the_rate_limit_gets_429_with_retry_after_and_others_go_on(
    settings: Settings, datamap: DataMap, ledger: Ledger, make_client: MakeClient
) -> None:
    client = make_client(settings, a_datamap(datamap, [NEW]), ledger, rate_limit_burst=2, rate_limit_per_minute=1)
    assert post(client, body_of()).status_code == 202
    assert post(client, body_of()).status_code == 202
    response = post(client, body_of())
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    assert post(client, body_of(), secret=OTHER, sub="other").status_code == 202  # its own budget


def test_a_repeat_of_a_delivery_refused_for_rate_is_published_when_retried(
    settings: Settings, datamap: DataMap, ledger: Ledger, make_client: MakeClient
) -> None:
    client = make_client(settings, a_datamap(datamap, [NEW]), ledger, rate_limit_burst=1, rate_limit_per_minute=1)
    assert post(client, body_of()).status_code == 202
    assert post(client, body_of(), msg_id="msg_later").status_code == 429
    roomy = make_client(settings, a_datamap(datamap, [NEW]), ledger)
    assert post(roomy, body_of(), msg_id="msg_later").status_code == 202


def test_a_delivery_refused_with_503_is_published_when_retried(
    settings: Settings, datamap: DataMap, ledger: Ledger, make_client: MakeClient
) -> None:
    dead = settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1", "ack_timeout_s": 1.0})
    down = make_client(settings, a_datamap(datamap, [NEW]), ledger, kafka=dead)
    body = body_of()
    response = post(down, body, msg_id="msg_503")
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    up = make_client(settings, a_datamap(datamap, [NEW]), ledger)
    assert post(up, body, msg_id="msg_503").status_code == 202
    assert len(published(settings, 1)) == 1


def test_a_ledger_out_of_reach_gets_503_with_retry_after_and_nothing_is_published(
    settings: Settings, datamap: DataMap, make_client: MakeClient
) -> None:
    pytest.importorskip("psycopg")
    gone = Ledger.connect("postgresql+psycopg://breachwire@127.0.0.1:1/breachwire", create=False)
    client = make_client(settings, a_datamap(datamap, [NEW]), gone)
    response = post(client, body_of())
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    assert published(settings, 1) == []


def test_the_report_schema_is_served(client: TestClient) -> None:
    response = client.get("/v1/schemas/report")
    assert response.status_code == 200
    schema = response.json()
    assert schema["properties"]["schema"]["const"] == "breachwire.report/1"
    assert "reference" in schema["required"]


def test_the_openapi_document_describes_every_answer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/subprocessors/{subprocessor_id}/reports"]["post"]
    assert {"202", "401", "413", "415", "422", "429", "503"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert {p["name"] for p in operation["parameters"]} >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "/v1/schemas/report" in document["paths"]
