"""What the fuzz of the ways in found, each kept as a plain regression test."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from producers.intake.bodylimit import BodyLimit
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for


def test_a_content_length_of_5000_digits_is_a_413_not_a_crash() -> None:
    """int() refuses strings of more than 4,300 digits: the declared length crashed the limit check (500)."""
    app = FastAPI()

    @app.post("/echo")
    async def echo() -> dict[str, str]:
        return {}

    app.add_middleware(BodyLimit, max_bytes=1000)
    client = TestClient(app, raise_server_exceptions=False)
    for declared in ("9" * 5000, "1" + "0" * 4999, "1001"):
        response = client.post("/echo", content=b"{}", headers={"content-length": declared})
        assert response.status_code == 413, (declared[:10], response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # leading zeros of a length within the limit are still within it
    for declared in ("0" * 5000 + "2", "2"):
        assert client.post("/echo", content=b"{}", headers={"content-length": declared}).status_code == 200


@pytest.fixture
def client(settings: Settings, datamap: DataMap) -> Iterator[TestClient]:
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    ledger = Ledger.connect(settings.ledger.url)
    yield TestClient(build_app(settings, datamap, ledger, publisher), raise_server_exceptions=False)
    ledger.close()
    publisher.close()


@pytest.mark.integration
def test_the_frameworks_own_refusals_are_problem_json(client: TestClient) -> None:
    """No route, a wrong method, an incident id with an encoded slash: 4xx problem+json like every other refusal."""
    for method, path, status in (
        ("GET", "/v1/subprocessors/linode-eu/reports", 405),
        ("GET", "/v1/oncall/incidents/a%2Fb/x", 404),
        ("DELETE", "/v1/oncall/incidents", 405),
        ("GET", "/nowhere", 404),
    ):
        response = client.request(method, path)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json", (method, path)
        assert response.json()["status"] == status
    assert "POST" in client.get("/v1/subprocessors/linode-eu/reports").headers["allow"]
