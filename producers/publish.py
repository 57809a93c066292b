"""Publishing a report onto ``incidents.reported``: the one step every way in ends with."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.errors import KafkaError

from runtime.kafka import PublishError, acknowledged, publish, send
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
        self._making = threading.Lock()
        self._known: set[str] = set()  # topics the producer has the partitions of
        self._topics = topics
        self._timeout = ack_timeout_s
        self._clock = clock

    def message(self, subprocessor_id: str, source: Source, delivery_id: str, report: Report) -> IncidentReported:
        """What a report is published as; its incident id follows from the sender and the report's reference."""
        return IncidentReported(
            incident_id=incident_id(subprocessor_id, report.reference),
            subprocessor_id=subprocessor_id,
            source=source,
            delivery_id=delivery_id,
            received_at=self._clock(),
            report=report,
        )

    def publish(self, subprocessor_id: str, source: Source, delivery_id: str, report: Report) -> IncidentReported:
        """Raises ``runtime.kafka.PublishError`` when Kafka does not acknowledge in time."""
        message = self.message(subprocessor_id, source, delivery_id, report)
        publish(self._connected(), self._topics.reported, message.incident_id, message, self._timeout)
        return message

    async def publish_report(self, message: IncidentReported) -> None:
        """``publish`` on the event loop: the same wait for acks=all, with no thread held while Kafka answers.
        Raises ``runtime.kafka.PublishError`` when Kafka does not acknowledge in time."""
        topic = self._topics.reported
        if topic not in self._known:
            # Making the producer and learning the topic's partitions wait for Kafka (send() would block the
            # loop for them): in a thread, until they are known; after that send() only queues the message.
            await asyncio.to_thread(self._learn, topic)
        try:
            future = send(self._connected(), topic, message.incident_id, message)
        except KafkaError as exc:
            raise PublishError(f"{topic}: not sent: {exc}") from exc
        await acknowledged(future, topic, self._timeout)

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
            with self._making:  # requests arriving together make one producer
                if self._producer is None:
                    try:
                        self._producer = self._make_producer()
                    except KafkaError as exc:
                        raise PublishError(f"Kafka unreachable: {exc}") from exc
        return self._producer

    def _learn(self, topic: str) -> None:
        try:
            self._connected().partitions_for(topic)
        except KafkaError as exc:
            raise PublishError(f"{topic}: no partitions known: {exc}") from exc
        self._known.add(topic)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
