"""Two intakes on one ledger (each with its own producer, engine and locks, as two processes have): a webhook-id
both receive at once is published once and answered alike. On SQLite (one file) and on PostgreSQL."""

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from support import LINODE_EU_SECRET, a_report, read_topic

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
def intakes(settings: Settings, datamap: DataMap, ledger_url: str) -> Iterator[list[TestClient]]:
    ledgers = [Ledger.connect(ledger_url) for _ in range(2)]
    publishers = [
        ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s)
        for _ in range(2)
    ]
    clients = [
        TestClient(create_app(settings.intake, datamap, p, ledger))
        for p, ledger in zip(publishers, ledgers, strict=True)
    ]
    with clients[0], clients[1]:  # each app on its own event loop, as in its own server
        yield clients
    for publisher, ledger in zip(publishers, ledgers, strict=True):
        publisher.close()
        ledger.close()


def post(client: TestClient, body: bytes, msg_id: str) -> httpx.Response:
    headers = {"content-type": "application/json", **sign_headers(LINODE_EU_SECRET, msg_id, body)}
    return client.post("/v1/subprocessors/linode-eu/reports", content=body, headers=headers)


def test_both_intakes_publish_other_deliveries(intakes: list[TestClient], settings: Settings) -> None:
    for number, client in enumerate(intakes):
        assert post(client, a_report().model_dump_json().encode(), f"msg_warm_{number}").status_code == 202
    assert len(read_topic(settings, topics_for(settings.kafka).reported, 2)) == 2


def test_a_delivery_both_intakes_receive_at_once_is_published_once_and_answered_alike(
    intakes: list[TestClient], settings: Settings
) -> None:
    report = a_report()
    body = report.model_dump_json().encode()
    senders = 12
    start = threading.Barrier(senders)
    answers: list[httpx.Response] = []

    def send(client: TestClient) -> None:
        start.wait()
        answers.append(post(client, body, "msg_both"))

    threads = [threading.Thread(target=send, args=(intakes[n % 2],)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [202] * senders, [a.text for a in answers]
    assert {a.text for a in answers} == {answers[0].text}
    assert answers[0].json()["incident_id"] == incident_id("linode-eu", report.reference)
    records = read_topic(settings, topics_for(settings.kafka).reported, 2, timeout_s=5)  # more than expected: waits
    assert [IncidentReported.model_validate_json(r.value).delivery_id for r in records] == ["msg_both"]
