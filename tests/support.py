"""Helpers the tests share (fixtures live in conftest.py)."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from consumers.assess.rules import RuleBook, load_rules
from consumers.notify.decide import order_key
from producers.publish import ReportPublisher
from runtime import resources
from runtime.datamap import DataMap
from runtime.kafka import connection, make_producer
from runtime.notice_signing import NoticeSigner
from runtime.settings import Settings, SigningSettings
from runtime.store import Ledger
from runtime.store.delivery import DeliveryRecord, NoticeState
from runtime.topics import topics_for
from schemas import (
    Audience,
    Channel,
    IncidentAssessed,
    IncidentFacts,
    IncidentReported,
    NoticeKind,
    NoticeRequested,
    Release,
    Report,
    ReportStatus,
    Source,
    notice_id,
)

# the example data map's demo secret of linode-eu, which signs its reports in tests
LINODE_EU_SECRET = "whsec_bGlub2RlLWV1LWRlbW8tc2VjcmV0LTIwMjY="
# services a test runs serve their probes on any free port: never on another run's fixed one
ANY_FREE_PORTS = {"assess_port": 0, "record_port": 0, "clock_port": 0, "notify_port": 0, "intake_port": 0}


class Stepped:
    """The notifier stepped from a test's synchronous code, on one event loop for its lifetime as in the service
    (its clients and connections belong to that loop)."""

    def __init__(self, notifier: Any) -> None:
        self.notifier = notifier
        self._runner = asyncio.Runner()

    def run_once(self) -> int:
        return int(self._runner.run(self.notifier.run_once()))

    def close(self) -> None:
        try:
            self._runner.run(self.notifier.aclose())
        finally:
            self._runner.close()


ServeIntake = Callable[[FastAPI, ReportPublisher], TestClient]
"""The ``serve_intake`` fixture: an intake app started for the test, stopped with its publisher after it."""


def a_report(**changes: Any) -> Report:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "reference": f"REF-{uuid.uuid4().hex[:8]}",
        "status": ReportStatus.CONFIRMED,
        "title": "Storage volume snapshot exfiltrated",
        "description": "Two volumes were copied by an attacker.",
        "aware_at": now - timedelta(minutes=30),
        "regions": ["eu"],
        "data_categories": ["contact_details", "chat_transcripts"],
        "approx_data_subjects": 1200,
    }
    fields.update(changes)
    return Report(**fields)


@cache
def project_rules() -> RuleBook:
    """The project's rule book (``rules/``), read once for the whole test run."""
    return load_rules(resources.rules_dir())


def produce_webhook_notices(settings: Settings, count: int) -> set[str]:
    """``count`` controller webhook notices (``samples.controller_notices``), signed as assess signs them, put on
    ``notices.requested``; their ids."""
    from breachwire.dev.samples import controller_notices
    from consumers.assess.rules import load_rules
    from runtime.datamap import load_datamap
    from runtime.kafka import make_producer, send
    from runtime.notice_signing import NoticeSigner
    from runtime.topics import topics_for
    from schemas import Channel

    datamap, rules = load_datamap(settings.datamap_dir), load_rules(settings.rules_dir)
    signer = NoticeSigner.from_settings(settings.signing)
    notices = [signer.sign(n) for n in controller_notices(datamap, rules, Channel.WEBHOOK, count)]
    producer = make_producer(settings.kafka)
    requested = topics_for(settings.kafka).requested
    for notice in notices:
        send(producer, requested, notice.recipient_id, notice)
    producer.flush(timeout=30)
    producer.close()
    return {n.notice_id for n in notices}


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@dataclass(frozen=True)
class Assessed:
    """What a report led to on the topics."""

    reported: IncidentReported
    assessed: list[IncidentAssessed]
    notices: list[NoticeRequested]
    call_center: set[str]
    """The ids of the data map's call-center customers: those a Twilio report concerns."""


def assess_a_twilio_report(settings: Settings, datamap: DataMap) -> Assessed:
    """A confirmed Twilio report published as the intake publishes it, assessed by the assess consumer, and its
    assessments and notices read back from the topics."""
    from consumers.assess.consumer import build

    topics = topics_for(settings.kafka)
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics, 10.0)
    try:
        reported = publisher.publish(
            "twilio", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", a_report(regions=[], data_categories=[])
        )
    finally:
        publisher.close()
    call_center = {c.id for c in datamap.customers.values() if "call-center" in c.features}

    loop = build(settings, datamap)
    wait_until(lambda: loop.run_once() > 0, 30, "the report to be assessed", step_s=0)

    assessed = [
        IncidentAssessed.model_validate_json(r.value) for r in read_topic(settings, topics.assessed, len(call_center))
    ]
    expected = sum(len(a.notice_ids) for a in assessed)
    notices = [NoticeRequested.model_validate_json(r.value) for r in read_topic(settings, topics.notices, expected)]
    return Assessed(reported, assessed, notices, call_center)


def read_topic(settings: Settings, topic: str | list[str], expected: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record of a topic (or of several), from the beginning, once at least ``expected`` arrived."""
    consumer = KafkaConsumer(
        *([topic] if isinstance(topic, str) else topic),
        **connection(settings.kafka),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def held_authority_notice(ledger: Ledger, incident: str) -> NoticeRequested:
    """An authority report awaiting approval, signed as assess signs it and recorded in ``ledger``."""
    now = datetime.now(UTC)
    notice = NoticeRequested(
        notice_id=notice_id(incident, "authority:edpb", "authority", "email", "confirmed.1"),
        incident_id=incident,
        revision="confirmed.1",
        recipient_id="authority:edpb",
        recipient_name="Supervisory authority",
        audience=Audience.AUTHORITY,
        channel=Channel.EMAIL,
        kind=NoticeKind.FULL,
        address="breaches@authority.example",
        requested_at=now,
        release=Release.APPROVE,
        incident=IncidentFacts(
            incident_id=incident,
            subprocessor_id="linode-eu",
            subprocessor_name="Linode",
            status=ReportStatus.CONFIRMED,
            sequence=1,
            title="Snapshot exfiltrated",
            description="",
            aware_at=now,
        ),
    )
    notice = NoticeSigner.from_settings(SigningSettings()).sign(notice)  # as assess signs it
    ledger.delivery.record_requested([notice])
    return notice


def record_attempt(
    ledger: Ledger,
    notice: NoticeRequested,
    outcome: str,
    *,
    attempts: int = 1,
    detail: str = "250 OK",
    at: datetime | None = None,
    rendered: str = "x",
) -> None:
    """One attempt at ``notice`` (delivered, retry or dead) recorded as the notifier records a batch's outcomes."""
    record = DeliveryRecord(
        notice=notice,
        order_key=order_key(notice),
        outcome=NoticeState(outcome),
        attempts=attempts,
        detail=detail,
        at=at or datetime.now(UTC),
        locale="en",
        rendered=rendered,
    )
    ledger.delivery.record_deliveries([record])


def count_by_state(ledger: Ledger, incident_id: str | None = None) -> dict[str, int]:
    """How many notices (of one incident) are in each state."""
    return dict(Counter(n.state for n in ledger.delivery.notices(incident_id)))


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a dead parent's init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    """Every sample of a /metrics answer, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(base: str) -> Samples:
    """Every sample of ``base``'s /metrics."""
    response = httpx.get(f"{base}/metrics", timeout=5)
    assert response.status_code == 200
    return samples_of(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
