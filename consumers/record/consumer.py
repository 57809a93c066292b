"""The record consumer: one small loop per topic, each writing what it reads into the ledger, idempotently.

- ``incidents.reported``  → the incident and its report;
- ``incidents.assessed``  → the assessment per customer;
- ``notices.requested``   → the notice, as requested (notify records delivery itself, before it commits).
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kafka import KafkaProducer

from runtime.consumer import ConsumerLoop, Received
from runtime.kafka import make_consumer, make_producer
from runtime.ledger import Ledger
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import IncidentAssessed, IncidentReported, NoticeRequested
from schemas.common import Message

M = TypeVar("M", bound=Message)


class RecordReports:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __call__(self, batch: Sequence[Received[IncidentReported]]) -> None:
        for received in batch:
            self._ledger.record_report(received.message)


class RecordAssessments:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __call__(self, batch: Sequence[Received[IncidentAssessed]]) -> None:
        for received in batch:
            self._ledger.record_assessment(received.message)


class RecordRequests:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __call__(self, batch: Sequence[Received[NoticeRequested]]) -> None:
        self._ledger.record_requested([r.message for r in batch])


def _loop(
    settings: Settings,
    producer: KafkaProducer,
    name: str,
    topic: str,
    model: type[M],
    handle: Callable[[Sequence[Received[M]]], None],
) -> ConsumerLoop[M]:
    return ConsumerLoop(
        f"record.{name}",
        make_consumer(settings.kafka, f"record.{name}", [topic]),
        producer,
        topics_for(settings.kafka).invalid,
        model,
        handle,
        poll_timeout_ms=settings.kafka.poll_timeout_ms,
        ack_timeout_s=settings.kafka.ack_timeout_s,
    )


def build(settings: Settings, ledger: Ledger) -> list[ConsumerLoop[Any]]:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    return [
        _loop(settings, producer, "reported", topics.reported, IncidentReported, RecordReports(ledger)),
        _loop(settings, producer, "assessed", topics.assessed, IncidentAssessed, RecordAssessments(ledger)),
        _loop(settings, producer, "requested", topics.requested, NoticeRequested, RecordRequests(ledger)),
    ]
