"""Alertmanager webhooks (version 4) and the in-process monitor API, on the real broker."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support import a_report, read_topic

from producers.monitors import MonitorProducer
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import IncidentReported, ReportStatus, Source

pytestmark = pytest.mark.integration

TOKEN = "am-token-for-tests"


@pytest.fixture
def publisher(settings: Settings) -> Iterator[ReportPublisher]:
    p = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s)
    yield p
    p.close()


@pytest.fixture
def client(settings: Settings, datamap: DataMap, publisher: ReportPublisher) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"monitors": settings.monitors.model_copy(update={"alertmanager_token": SecretStr(TOKEN)})}
    )
    ledger = Ledger.connect(settings.ledger.url)
    yield TestClient(build_app(configured, datamap, ledger, publisher))
    ledger.close()


def payload(status: str, **labels: str) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "BucketPublic", "subprocessor": "linode-eu", "region": "eu", **labels},
        "annotations": {"summary": "Backup bucket readable by anyone", "description": "ACL changed"},
        "startsAt": "2026-11-28T10:00:00Z",
        "endsAt": "2026-11-28T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "c0ffee12",
    }
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "bw",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": [alert],
    }


def post(client: TestClient, body: dict[str, Any], token: str = TOKEN) -> Any:
    return client.post("/v1/monitors/alertmanager", json=body, headers={"authorization": f"Bearer {token}"})


def test_firing_reports_a_suspected_breach_and_resolved_resolves_it(client: TestClient, settings: Settings) -> None:
    fired = post(client, payload("firing"))
    assert fired.status_code == 202, fired.text
    resolved = post(client, payload("resolved"))
    assert resolved.status_code == 202
    assert fired.json()["incidents"][0]["incident_id"] == resolved.json()["incidents"][0]["incident_id"]
    messages = [
        IncidentReported.model_validate_json(r.value)
        for r in read_topic(settings, topics_for(settings.kafka).reported, 2)
    ]
    assert [m.report.status for m in messages] == [ReportStatus.SUSPECTED, ReportStatus.RESOLVED]
    assert messages[0].source is Source.MONITOR and messages[0].subprocessor_id == "linode-eu"
    assert messages[0].report.title == "Backup bucket readable by anyone"
    assert messages[0].report.regions == ["eu"]


def test_a_wrong_or_missing_token_gets_401(client: TestClient) -> None:
    assert post(client, payload("firing"), token="nope").status_code == 401
    assert client.post("/v1/monitors/alertmanager", json=payload("firing")).status_code == 401


def test_an_unknown_subprocessor_label_gets_422_naming_it(client: TestClient) -> None:
    response = post(client, payload("firing", subprocessor="nobody"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "alerts[0].labels.subprocessor"


def test_a_payload_that_is_not_version_4_gets_422(client: TestClient) -> None:
    response = post(client, {**payload("firing"), "version": "3"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "version"


def test_an_in_process_monitor_publishes_a_report(settings: Settings, publisher: ReportPublisher) -> None:
    message = MonitorProducer(publisher, "disk-watch").report("linode-eu", a_report())
    [record] = read_topic(settings, topics_for(settings.kafka).reported, 1)
    assert IncidentReported.model_validate_json(record.value) == message
    assert message.source is Source.MONITOR and message.delivery_id.startswith("disk-watch:")
