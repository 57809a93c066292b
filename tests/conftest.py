"""Shared fixtures. Integration tests run against the real local Kafka broker (started by the project's own
code if none runs), a real SMTP server and a real HTTP receiver; each test gets fresh topics and groups."""

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support import ANY_FREE_PORTS, ServeIntake, project_rules

from breachwire.dev import broker
from breachwire.dev.sinks import SmtpSink, WebhookSink
from breachwire.dev.twilio import TwilioSink
from consumers.assess.rules import RuleBook
from producers.publish import ReportPublisher
from runtime import resources
from runtime.datamap import DataMap, load_datamap
from runtime.kafka import delete_topics, ensure_topics
from runtime.settings import Settings, TwilioSettings, load_settings
from runtime.store import Ledger
from runtime.store.tables import metadata
from runtime.topics import topics_for

EXAMPLES = resources.example_datamap()
POSTGRES_URL = os.environ.get("BREACHWIRE_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def broker_address() -> str:
    """A running broker: the one on the configured address, else one the project starts (and keeps)."""
    settings = load_settings()
    broker.start(settings.broker)
    return broker.address(settings.broker)


@pytest.fixture
def settings(broker_address: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for one test: fresh topics and consumer groups on the real broker, a ledger in tmp_path."""
    run = uuid.uuid4().hex[:10]
    s = load_settings(
        kafka={
            "bootstrap_servers": broker_address,
            "topic_prefix": f"test-{run}.",
            "group_prefix": f"test-{run}",
            "partitions": {"incidents.reported": 2, "notices.requested": 3, "notices.retry": 2},
            "poll_timeout_ms": 200,
        },
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        datamap_dir=EXAMPLES,
        state_dir=tmp_path / "state",
        log={"format": "json"},
        metrics=ANY_FREE_PORTS,
        # Retries within seconds, not hours; the receivers run on loopback, which the target guard must admit.
        notify={"retry_delays_s": (1, 2), "allow_targets": ["127.0.0.0/8", "::1/128"], "require_https": False},
    )
    table = topics_for(s.kafka, s.notify.retry_delays_s).partitions(s.kafka)
    topics = list(table)
    ensure_topics(s.kafka, table)
    yield s
    # A long suite would otherwise leave thousands of partitions on the one local broker.
    delete_topics(s.kafka, topics)


@pytest.fixture(scope="session")
def datamap() -> DataMap:
    return load_datamap(EXAMPLES)


@pytest.fixture(scope="session")
def rules() -> RuleBook:
    return project_rules()


def _ledger_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(
                POSTGRES_URL is None, reason="BREACHWIRE_TEST_POSTGRES_URL is not set (CI sets it)"
            ),
        ),
    ]


@pytest.fixture(params=_ledger_params())
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The ledger's URL on SQLite and, where one is given, PostgreSQL (emptied first)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    assert POSTGRES_URL is not None
    ledger = Ledger.connect(POSTGRES_URL, create=False)
    metadata.drop_all(ledger.engine)
    ledger.close()
    yield POSTGRES_URL


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    store = Ledger.connect(ledger_url)
    yield store
    store.close()


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "mail").start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook_sink(tmp_path: Path, datamap: DataMap) -> Iterator[WebhookSink]:
    """A receiver verifying every signature with the example customers' secrets, at /hooks/<customer>."""
    secrets = {
        f"/hooks/{c.id}": c.webhook_secret.get_secret_value()
        for c in datamap.customers.values()
        if c.webhook_secret is not None
    }
    sink = WebhookSink(secrets, tmp_path / "webhooks").start()
    yield sink
    sink.stop()


TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "test-auth-token"


@pytest.fixture
def twilio_sink() -> Iterator[TwilioSink]:
    """A local server speaking Twilio's Messages API (the SMS channel's provider)."""
    sink = TwilioSink(TWILIO_SID, TWILIO_TOKEN).start()
    yield sink
    sink.stop()


@pytest.fixture
def wired_datamap_dir(tmp_path: Path, webhook_sink: WebhookSink) -> Path:
    """The example data map with every webhook URL pointing at this test's receiver."""
    directory = tmp_path / "datamap"
    directory.mkdir()
    (directory / "subprocessors.toml").write_text((EXAMPLES / "subprocessors.toml").read_text())
    text = (EXAMPLES / "customers.jsonl").read_text()
    (directory / "customers.jsonl").write_text(text.replace("http://127.0.0.1:8765", webhook_sink.url("")))
    return directory


@pytest.fixture
def wired_settings(
    settings: Settings, wired_datamap_dir: Path, smtp_sink: SmtpSink, twilio_sink: TwilioSink
) -> Settings:
    """Per-test settings whose notices reach this test's SMTP server, webhook receiver and SMS provider."""
    return settings.model_copy(
        update={
            "datamap_dir": wired_datamap_dir,
            "smtp": settings.smtp.model_copy(update={"host": smtp_sink.host, "port": smtp_sink.port}),
            "twilio": TwilioSettings(
                base_url=twilio_sink.base_url,
                account_sid=TWILIO_SID,
                auth_token=SecretStr(TWILIO_TOKEN),
                from_number="+15550000000",
            ),
        }
    )


@pytest.fixture
def serve_intake() -> Iterator[ServeIntake]:
    """Intake apps for one test, each started (its lifespan run) and, after the test, stopped (its claims and
    accepts written) with its publisher closed: no Kafka client outlives its test."""
    with ExitStack() as stack:

        def serve(app: FastAPI, publisher: ReportPublisher) -> TestClient:
            stack.callback(publisher.close)
            return stack.enter_context(TestClient(app))

        yield serve
