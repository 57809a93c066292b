"""Publishing a report onto ``incidents.reported``: the one step every way in ends with."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.errors import KafkaError

from runtime.kafka import PublishError, publish, send
from runtime.topics import Topics
from schemas import IncidentReported, NoticeRequested, Report, Source, incident_id


class ReportPublisher:
    """Turns a report into an ``IncidentReported`` and waits until Kafka acknowledged it (acks=all)."""

    def __init__(
        self,
        producer: Callable[[], KafkaProducer],
        topics: Topics,
        ack_timeout_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._make_producer = producer
        self._producer: KafkaProducer | None = None
        self._topics = topics
        self._timeout = ack_timeout_s
        self._clock = clock

    def publish(self, subprocessor_id: str, source: Source, delivery_id: str, report: Report) -> IncidentReported:
        """Raises ``runtime.kafka.PublishError`` when Kafka does not acknowledge in time."""
        message = IncidentReported(
            incident_id=incident_id(subprocessor_id, report.reference),
            subprocessor_id=subprocessor_id,
            source=source,
            delivery_id=delivery_id,
            received_at=self._clock(),
            report=report,
        )
        publish(self._connected(), self._topics.reported, message.incident_id, message, self._timeout)
        return message

    def publish_notices(self, notices: Sequence[NoticeRequested]) -> None:
        """Notices (released, approved, replayed), each on its topic, all sent before waiting for their acks."""
        producer = self._connected()
        try:
            futures = [send(producer, self._topics.requested_for(n), n.recipient_id, n) for n in notices]
            producer.flush(timeout=self._timeout)
            for future in futures:
                future.get(timeout=self._timeout)
        except KafkaError as exc:
            raise PublishError(f"notices: not acknowledged: {exc}") from exc

    @property
    def ack_timeout_s(self) -> float:
        return self._timeout

    @property
    def topics(self) -> Topics:
        return self._topics

    def _connected(self) -> KafkaProducer:
        """The producer, made on first use so that the intake starts (and answers 503) while Kafka is down."""
        if self._producer is None:
            try:
                self._producer = self._make_producer()
            except KafkaError as exc:
                raise PublishError(f"Kafka unreachable: {exc}") from exc
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
