"""/metrics, /healthz and /readyz over HTTP, on the real broker: counts move as notices flow, lag is what is left
to read, and readiness follows Kafka and the ledger."""

import asyncio
import threading
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support import LINODE_EU_SECRET, a_report, project_rules, samples_of, scrape, value, wait_until

from breachwire.dev.samples import controller_notices
from breachwire.dev.sinks import Answer, WebhookSink
from consumers.notify.consumer import build
from consumers.notify.webhook import sign_headers
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.consumer import ConsumerLoop
from runtime.datamap import DataMap, load_datamap
from runtime.kafka import make_consumer, make_producer, send
from runtime.logging import configure
from runtime.metrics import ServiceMetrics
from runtime.notice_signing import NoticeSigner
from runtime.probes import serving_probes
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import Channel, IncidentReported

pytestmark = pytest.mark.integration

STOPPED_POSTGRES = "postgresql+psycopg://breachwire:breachwire@127.0.0.1:1/breachwire"  # nothing listens there


def probes_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"metrics": settings.metrics.model_copy(update={"notify_port": 0, **changes})})


def test_the_notifier_counts_notices_as_they_flow_and_its_probes_say_it_runs(
    wired_settings: Settings, webhook_sink: WebhookSink
) -> None:
    settings = probes_settings(wired_settings)
    configure(settings.log, "notify")  # as the service does first (logs to this test's stderr, from its threads)
    datamap = load_datamap(settings.datamap_dir)
    ledger = Ledger.connect(settings.ledger.url)
    metrics = ServiceMetrics()
    notifier = build(settings, datamap, ledger, metrics.notify)
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(500 if attempt < 2 else 200)  # each fails once
    stop = threading.Event()
    with serving_probes(settings.metrics, settings.kafka, "notify", notifier.loops, metrics, ledger.engine) as server:
        assert server is not None
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 503  # not running yet
        runner = threading.Thread(target=lambda: asyncio.run(notifier.run(stop)))
        runner.start()
        try:
            wait_until(lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200, 30, "alive")
            notices = controller_notices(datamap, project_rules(), Channel.WEBHOOK, 3)
            signer, producer = NoticeSigner.from_settings(settings.signing), make_producer(settings.kafka)
            topics = topics_for(settings.kafka, settings.notify.retry_delays_s)
            for notice in notices:
                send(producer, topics.requested, notice.recipient_id, signer.sign(notice))
            producer.flush(timeout=10)
            producer.close()
            by = {"audience": "controller", "channel": "webhook"}

            def delivered() -> float:
                return value(scrape(base), "breachwire_notices_total", **by, outcome="delivered")

            wait_until(lambda: delivered() == 3, 60, "three notices delivered, as /metrics tells")
            samples = scrape(base)
            assert value(samples, "breachwire_notices_total", **by, outcome="retry") == 3
            assert value(samples, "breachwire_notice_delivery_seconds_count", **by) == 3
            assert value(samples, "breachwire_send_seconds_count", channel="webhook", result="retryable") == 3
            assert value(samples, "breachwire_send_seconds_count", channel="webhook", result="ok") == 3
            # one consumer reads them all: the three notices, then at least their three retry copies
            assert value(samples, "breachwire_consumer_records_total", consumer="notify") >= 6
            lag = [v for (name, _), v in samples.items() if name == "breachwire_consumer_lag"]
            assert lag and sum(lag) == 0  # everything read and committed
            assert value(samples, "breachwire_consumer_running", consumer="notify") == 1
            assert value(samples, "breachwire_consumer_unsettled_since_timestamp_seconds", consumer="notify") == 0
            ready = httpx.get(f"{base}/readyz", timeout=10)
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"kafka": "ok", "ledger": "ok"}}
        finally:
            stop.set()
            runner.join(60)
            ledger.close()
        assert httpx.get(f"{base}/healthz", timeout=5).json()["loops"] == {"notify": "stopped"}


def test_lag_is_what_the_consumer_has_not_committed(settings: Settings) -> None:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    for _ in range(5):  # unparseable: each counts as read and invalid, and goes to messages.invalid
        producer.send(topics.reported, key=b"one-partition", value=b"not json")
    producer.flush(timeout=10)
    consumer = make_consumer(settings.kafka, f"lagging.{uuid.uuid4().hex}", [topics.reported], max_poll_records=2)
    loop = ConsumerLoop(
        "lagging",
        consumer,
        producer,
        topics.invalid,
        IncidentReported,
        lambda batch: None,
    )
    try:
        wait_until(lambda: loop.run_once() > 0, 30, "a first batch")
        assert loop.stats.records == 2
        assert sum(loop.stats.lag.values()) == 3
        wait_until(lambda: loop.run_once() == 0 and loop.stats.records == 5, 30, "the rest read")
        assert sum(loop.stats.lag.values()) == 0
        assert loop.stats.invalid == 5
    finally:
        consumer.close(autocommit=False)
        producer.close()


def readyz(settings: Settings, ledger_url: str) -> httpx.Response:
    """/readyz of a record process whose loops are not running: readiness does not depend on them."""
    ledger = Ledger.connect(ledger_url, create=False)
    try:
        with serving_probes(settings.metrics, settings.kafka, "record", [], ServiceMetrics(), ledger.engine) as s:
            assert s is not None
            return httpx.get(f"http://127.0.0.1:{s.port}/readyz", timeout=10)
    finally:
        ledger.close()


def test_readyz_is_200_with_kafka_and_the_ledger_reachable(settings: Settings) -> None:
    response = readyz(probes_settings(settings, record_port=0), settings.ledger.url)
    assert response.status_code == 200
    assert response.json()["checks"] == {"kafka": "ok", "ledger": "ok"}


def test_readyz_is_503_when_the_ledger_database_is_stopped(settings: Settings) -> None:
    response = readyz(probes_settings(settings, record_port=0), STOPPED_POSTGRES)
    assert response.status_code == 503
    assert response.json() == {"status": "unready", "checks": {"kafka": "ok", "ledger": "unreachable"}}


def wrong_broker(settings: Settings) -> Settings:
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})  # nothing listens there
    return settings.model_copy(update={"kafka": kafka})


def test_readyz_is_503_when_the_broker_address_is_wrong(settings: Settings) -> None:
    response = readyz(probes_settings(wrong_broker(settings), record_port=0), settings.ledger.url)
    assert response.status_code == 503
    assert response.json()["checks"] == {"kafka": "unreachable", "ledger": "ok"}


def test_readyz_is_200_while_any_bootstrap_broker_answers(settings: Settings) -> None:
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:1,{settings.kafka.bootstrap_servers}"})
    response = readyz(probes_settings(settings.model_copy(update={"kafka": kafka}), record_port=0), settings.ledger.url)
    assert response.status_code == 200


def test_the_intake_counts_reports_by_outcome_and_answers_its_probes(settings: Settings, datamap: DataMap) -> None:
    ledger = Ledger.connect(settings.ledger.url)
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    metrics = ServiceMetrics()
    client = TestClient(build_app(settings, datamap, ledger, publisher, metrics))
    try:
        body = a_report().model_dump_json().encode()
        headers = {"content-type": "application/json", **sign_headers(LINODE_EU_SECRET, "msg_once", body)}
        url = "/v1/subprocessors/linode-eu/reports"
        assert client.post(url, content=body, headers=headers).status_code == 202
        assert client.post(url, content=body, headers=headers).status_code == 202  # the same webhook-id again
        bad = {**headers, "webhook-signature": "v1,AAAA"}
        assert client.post(url, content=body, headers=bad).status_code == 401

        response = client.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        samples = samples_of(response.text)
        for outcome, count in (("accepted", 1), ("repeated", 1), ("bad-signature", 1)):
            assert value(samples, "breachwire_reports_total", source="subprocessor", outcome=outcome) == count
        # the repeat was answered from its claim: two ledger round trips, one publish
        assert value(samples, "breachwire_report_step_seconds_count", step="claim") == 2
        assert value(samples, "breachwire_report_step_seconds_count", step="publish") == 1
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"kafka": "ok", "ledger": "ok"}
        assert not {"/metrics", "/healthz", "/readyz"} & set(client.get("/openapi.json").json()["paths"])
    finally:
        publisher.close()
        ledger.close()


def test_the_intake_is_not_ready_while_kafka_is_out_of_reach(settings: Settings, datamap: DataMap) -> None:
    wrong = wrong_broker(settings)
    ledger = Ledger.connect(settings.ledger.url)
    publisher = ReportPublisher(lambda: make_producer(wrong.kafka), topics_for(wrong.kafka), 10.0)
    try:
        client = TestClient(build_app(wrong, datamap, ledger, publisher))
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"] == {"kafka": "unreachable", "ledger": "ok"}
        assert client.get("/healthz").status_code == 200  # alive: a restart would not bring the broker back
    finally:
        publisher.close()
        ledger.close()
