"""A Python producer API for in-process monitors: ``MonitorProducer(...).report(subprocessor_id, report)``."""

import uuid

from producers.publish import ReportPublisher
from schemas import IncidentReported, Report, Source


class MonitorProducer:
    """Publishes a monitor's report onto ``incidents.reported``; returns once Kafka acknowledged it.

    Raises ``runtime.kafka.PublishError`` when Kafka does not acknowledge in time; the monitor retries with the
    same ``delivery_id`` (a report's id comes from its subprocessor and reference, so a retry is the same
    incident revision and leads to no second notice)."""

    def __init__(self, publisher: ReportPublisher, monitor: str) -> None:
        self._publisher = publisher
        self._monitor = monitor

    def report(self, subprocessor_id: str, report: Report, delivery_id: str | None = None) -> IncidentReported:
        return self._publisher.publish(
            subprocessor_id, Source.MONITOR, delivery_id or f"{self._monitor}:{uuid.uuid4().hex}", report
        )
