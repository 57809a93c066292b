"""The assess consumer: reads ``incidents.reported``, writes ``incidents.assessed`` and ``notices.requested``.

Steps per report: parse (the loop) → look up the reporter → find the affected customers → per customer,
build its assessment and notices → produce them → (the loop) flush and commit.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from kafka import KafkaProducer

from consumers.assess.impact import affected_customers, data_categories
from consumers.assess.notices import controller_notices, incident_facts
from runtime.consumer import ConsumerLoop, Received
from runtime.datamap import DataMap
from runtime.kafka import make_consumer, make_producer, send
from runtime.settings import Settings
from runtime.topics import Topics, topics_for
from schemas import IncidentAssessed, IncidentReported

log = structlog.get_logger(__name__)


class Assess:
    def __init__(
        self,
        datamap: DataMap,
        producer: KafkaProducer,
        topics: Topics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._datamap = datamap
        self._producer = producer
        self._topics = topics
        self._clock = clock

    def __call__(self, batch: Sequence[Received[IncidentReported]]) -> None:
        for received in batch:
            self.assess(received.message)

    def assess(self, reported: IncidentReported) -> int:
        """Produce the assessment and notices of one report; returns how many notices were requested."""
        log_ = log.bind(incident_id=reported.incident_id, revision=reported.revision)
        subprocessor = self._datamap.subprocessors.get(reported.subprocessor_id)
        if subprocessor is None:
            log_.error("report from an unknown subprocessor", subprocessor_id=reported.subprocessor_id)
            return 0
        customers = affected_customers(reported.report, subprocessor, self._datamap)
        categories = data_categories(reported.report, subprocessor)
        facts = incident_facts(reported, subprocessor, categories)
        now = self._clock()
        requested = 0
        for customer in customers:
            notices = controller_notices(reported, customer, facts, [], now)
            assessment = IncidentAssessed(
                incident_id=reported.incident_id,
                revision=reported.revision,
                customer_id=customer.id,
                assessed_at=now,
                data_categories=categories,
                notice_ids=[n.notice_id for n in notices],
            )
            send(self._producer, self._topics.assessed, reported.incident_id, assessment)
            for notice in notices:
                send(self._producer, self._topics.requested, notice.recipient_id, notice)
            requested += len(notices)
        log_.info("report assessed", customers=len(customers), notices=requested)
        return requested


def build(settings: Settings, datamap: DataMap) -> ConsumerLoop[IncidentReported]:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    consumer = make_consumer(settings.kafka, "assess", [topics.reported])
    return ConsumerLoop(
        "assess",
        consumer,
        producer,
        topics.invalid,
        IncidentReported,
        Assess(datamap, producer, topics),
        poll_timeout_ms=settings.kafka.poll_timeout_ms,
        ack_timeout_s=settings.kafka.ack_timeout_s,
    )
