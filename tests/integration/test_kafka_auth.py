"""The pipeline on a broker that serves clients only over SASL_SSL (SCRAM-SHA-512), as ``breachwire kafka up
--auth`` runs it: a report goes in through the intake's publisher, the assess consumer assesses it, its notices
are read back, all signed in over TLS; a wrong password, a CA the client does not trust and a PLAINTEXT client get
nothing."""

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from pydantic import SecretStr
from support import a_report, assess_a_twilio_report

from breachwire.dev import broker
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import PublishError, connection, delete_topics, ensure_topics, make_producer
from runtime.settings import BrokerSettings, KafkaSettings, Settings, load_settings
from runtime.topics import topics_for
from schemas import Source

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "datamap"
# A client that cannot get in gives up after this long, rather than kafka-python's 30 s.
REFUSED_WITHIN_MS = 3000
INVALID_CREDENTIALS = "invalid credentials with SASL mechanism SCRAM-SHA-512"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSettings]:
    """An auth broker of its own (ports, data folder), beside the shared PLAINTEXT one; stopped at the end."""
    local = load_settings().broker.model_copy(
        update={
            "auth": True,
            "auth_port": _free_port(),
            "auth_controller_port": _free_port(),
            "auth_data_dir": tmp_path_factory.mktemp("kafka-auth"),
        }
    )
    broker.start(local)
    yield local
    broker.stop(local)


@pytest.fixture
def auth_settings(auth_broker: BrokerSettings, tmp_path: Path) -> Iterator[Settings]:
    run = uuid.uuid4().hex[:10]
    base = load_settings(
        kafka={"topic_prefix": f"test-{run}.", "group_prefix": f"test-{run}", "poll_timeout_ms": 200},
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        datamap_dir=EXAMPLES,
        state_dir=tmp_path / "state",
        log={"format": "json"},
    )
    # Everything but the topics comes from the file `breachwire kafka up --auth` writes for clients.
    settings = base.model_copy(update={"kafka": broker.client_settings(auth_broker, base.kafka)})
    table = topics_for(settings.kafka).partitions(settings.kafka)
    ensure_topics(settings.kafka, table)
    yield settings
    delete_topics(settings.kafka, table)


def test_the_credentials_file_signs_clients_in_over_tls(auth_broker: BrokerSettings) -> None:
    kafka = broker.client_settings(auth_broker)
    assert kafka.security_protocol == "SASL_SSL"
    assert kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert kafka.ssl_cafile is not None and kafka.ssl_cafile.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert kafka.check_hostname
    credentials = broker.credentials_file(auth_broker)
    assert credentials.stat().st_mode & 0o077 == 0  # it holds a password: its owner's alone
    from_file = load_settings(credentials)  # the file is a settings file for --config, too
    assert from_file.kafka == kafka
    assert from_file.broker.auth
    assert (from_file.broker.auth_port, from_file.broker.auth_data_dir) == (
        auth_broker.auth_port,
        auth_broker.auth_data_dir,
    )


def test_a_report_is_assessed_and_its_notices_read_back_all_signed_in(
    auth_settings: Settings, datamap: DataMap
) -> None:
    outcome = assess_a_twilio_report(auth_settings, datamap)

    assert {a.customer_id for a in outcome.assessed} == outcome.call_center
    assert outcome.notices and len(outcome.notices) == sum(len(a.notice_ids) for a in outcome.assessed)
    assert {n.recipient_id for n in outcome.notices} == outcome.call_center
    assert all(n.incident_id == outcome.reported.incident_id for n in outcome.notices)


def _refused(kafka: KafkaSettings, topic: str) -> None:
    """The client gets no connection, so no record of ``topic``."""
    with pytest.raises(KafkaError):
        consumer = KafkaConsumer(
            topic,
            **connection(kafka),
            group_id=None,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=REFUSED_WITHIN_MS,
        )
        consumer.close()


def test_a_wrong_password_is_refused(auth_settings: Settings, auth_broker: BrokerSettings) -> None:
    wrong = auth_settings.kafka.model_copy(update={"password": SecretStr("not-the-password"), "ack_timeout_s": 3.0})
    topics = topics_for(wrong)
    log = auth_broker.auth_data_dir / "server.log"
    logged_before = log.read_text(encoding="utf-8").count(INVALID_CREDENTIALS)
    publisher = ReportPublisher(lambda: make_producer(wrong), topics, wrong.ack_timeout_s)
    with pytest.raises(PublishError):
        publisher.publish("twilio", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", a_report())
    publisher.close()
    _refused(wrong, topics.requested)
    # refused for the password, not for anything else (the broker says so)
    assert log.read_text(encoding="utf-8").count(INVALID_CREDENTIALS) > logged_before


def test_a_client_that_does_not_trust_the_brokers_ca_is_refused(auth_settings: Settings) -> None:
    # the system's CAs, which never signed the broker's certificate
    _refused(auth_settings.kafka.model_copy(update={"ssl_cafile": None}), topics_for(auth_settings.kafka).requested)


def test_a_plaintext_client_cannot_read_the_topics(auth_settings: Settings, auth_broker: BrokerSettings) -> None:
    requested = topics_for(auth_settings.kafka).requested
    for port in (auth_broker.auth_port, auth_broker.auth_controller_port):
        plain = auth_settings.kafka.model_copy(
            update={"bootstrap_servers": f"{auth_broker.host}:{port}", "security_protocol": "PLAINTEXT"}
        )
        _refused(plain, requested)
