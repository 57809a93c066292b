"""The record consumer: one small loop per topic, each writing what it reads into the ledger, idempotently.

- ``incidents.reported``  → the incident and its report;
- ``incidents.assessed``  → the assessment per customer;
- ``notices.requested`` and ``notices.alerts`` → the notice, as requested (notify records delivery itself,
  before it commits);
- ``notices.sent`` / ``notices.dead`` → the outcome of each notice, in the audit trail.

Each loop also appends what it read to the audit trail (``runtime.audit``), a batch at a time in one transaction,
keyed so that a replay appends nothing twice, and after each batch checkpoints the chain's head
(``runtime.checkpoints``): to the checkpoint file and the ``audit.checkpoints`` topic, before the batch's offsets
are committed.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kafka import KafkaProducer

from runtime.audit import AuditLog, Pending
from runtime.checkpoints import Checkpointer, CheckpointFile
from runtime.consumer import ConsumerLoop, Received
from runtime.datamap import MapSource
from runtime.kafka import make_consumer, make_producer
from runtime.notice_signing import NoticeSigner
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.store.db import while_unreachable
from runtime.store.incidents import Assessment
from runtime.topics import topics_for
from schemas import IncidentAssessed, IncidentReported, NoticeDead, NoticeRequested, NoticeSent
from schemas.common import Message

M = TypeVar("M", bound=Message)


class RecordReports:
    def __init__(self, ledger: Ledger, audit: AuditLog | None = None) -> None:
        self._ledger = ledger
        self._audit = audit or AuditLog(ledger)

    def __call__(self, batch: Sequence[Received[IncidentReported]]) -> None:
        entries = []
        for received in batch:
            m = received.message
            self._ledger.incidents.record_report(m)
            entries.append(
                Pending(
                    f"report:{m.incident_id}:{m.revision}",
                    "report.received",
                    actor=f"{m.source.value}:{m.subprocessor_id}",
                    incident_id=m.incident_id,
                    data={"revision": m.revision, "delivery_id": m.delivery_id, "title": m.report.title},
                    at=m.received_at,
                )
            )
        self._audit.append_many(entries)


class RecordAssessments:
    def __init__(self, ledger: Ledger, audit: AuditLog | None = None, datamap: MapSource | None = None) -> None:
        self._ledger = ledger
        self._audit = audit or AuditLog(ledger)
        self._maps = datamap

    def __call__(self, batch: Sequence[Received[IncidentAssessed]]) -> None:
        entries = []
        recorded = []
        customers = self._maps.current().customers if self._maps is not None else {}
        for received in batch:
            m = received.message
            # the customer's name and region as the data map has them, for the console's list of who is affected
            customer = customers.get(m.customer_id)
            recorded.append(Assessment(m, customer.name, customer.region) if customer else Assessment(m))
            entries.append(
                Pending(
                    f"assessment:{m.incident_id}:{m.revision}:{m.customer_id}",
                    "incident.assessed",
                    actor="assess",
                    incident_id=m.incident_id,
                    data={
                        "revision": m.revision,
                        "customer_id": m.customer_id,
                        "jurisdictions": m.jurisdictions,
                        "deadlines": [d.model_dump(mode="json") for d in m.deadlines],
                        "notice_ids": m.notice_ids,
                    },
                    at=m.assessed_at,
                )
            )
        self._ledger.incidents.record_assessments(recorded)
        self._audit.append_many(entries)


class RecordRequests:
    def __init__(self, ledger: Ledger, signer: NoticeSigner, audit: AuditLog | None = None) -> None:
        self._ledger = ledger
        self._signer = signer
        self._audit = audit or AuditLog(ledger)

    def __call__(self, batch: Sequence[Received[NoticeRequested]]) -> None:
        # A notice breachwire did not sign is not recorded as requested (nor held for a person to approve): the
        # notifier records it dead, with its reason.
        signed = [r.message for r in batch if self._signer.valid(r.message)]
        self._ledger.delivery.record_requested(signed)
        self._audit.append_many(
            [
                Pending(
                    f"notice.requested:{m.notice_id}",
                    "notice.requested",
                    actor="assess",
                    incident_id=m.incident_id,
                    data={
                        "notice_id": m.notice_id,
                        "recipient_id": m.recipient_id,
                        "audience": m.audience.value,
                        "channel": m.channel.value,
                        "kind": m.kind.value,
                        "release": m.release.value,
                    },
                    at=m.requested_at,
                )
                for m in signed
            ]
        )


class RecordOutcomes:
    """Each notice attempt's outcome (delivered with its receipt, or dead with the reason) in the audit trail."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def __call__(self, batch: Sequence[Received[NoticeSent] | Received[NoticeDead]]) -> None:
        entries = []
        for received in batch:
            m = received.message
            if isinstance(m, NoticeSent):
                key, kind, at = f"notice.delivered:{m.notice_id}", "notice.delivered", m.sent_at
                data = {"receipt": m.receipt, "attempts": m.attempts, "locale": m.locale}
            else:
                key, kind, at = f"notice.dead:{m.notice_id}:{m.attempts}", "notice.dead", m.failed_at
                data = {"reason": m.reason[:2000], "attempts": m.attempts}
            entries.append(
                Pending(
                    key,
                    kind,
                    actor="notify",
                    incident_id=m.incident_id,
                    data={"notice_id": m.notice_id, "recipient_id": m.recipient_id, "channel": m.channel.value, **data},
                    at=at,
                )
            )
        self._audit.append_many(entries)


def _loop(
    settings: Settings,
    producer: KafkaProducer,
    name: str,
    subscribed: list[str],
    model: type[M],
    handle: Callable[[Sequence[Received[M]]], None],
    checkpoint: Callable[[], object],
) -> ConsumerLoop[M]:
    def handle_then_checkpoint(batch: Sequence[Received[M]]) -> None:
        def once() -> None:
            handle(batch)
            checkpoint()

        # Every write is keyed (a replay adds nothing), so a batch cut off by a ledger outage is simply done again.
        while_unreachable(once, settings.ledger.unreachable_wait_s, f"record.{name}")

    return ConsumerLoop(
        f"record.{name}",
        make_consumer(settings.kafka, f"record.{name}", subscribed),
        producer,
        topics_for(settings.kafka).invalid,
        model,
        handle_then_checkpoint,
        settings.kafka,
    )


def build(settings: Settings, ledger: Ledger, datamap: MapSource | None = None) -> list[ConsumerLoop[Any]]:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    audit = AuditLog(ledger, settings.audit.key)
    cp = Checkpointer(
        audit, CheckpointFile(settings.audit_checkpoints), producer, topics.checkpoints, settings.kafka.ack_timeout_s
    )
    signer = NoticeSigner.from_settings(settings.signing)
    outcomes = RecordOutcomes(audit)
    return [
        _loop(settings, producer, "reported", [topics.reported], IncidentReported, RecordReports(ledger, audit), cp),
        _loop(
            settings,
            producer,
            "assessed",
            [topics.assessed],
            IncidentAssessed,
            RecordAssessments(ledger, audit, datamap),
            cp,
        ),
        _loop(
            settings,
            producer,
            "requested",
            topics.notices,
            NoticeRequested,
            RecordRequests(ledger, signer, audit),
            cp,
        ),
        _loop(settings, producer, "sent", [topics.sent], NoticeSent, outcomes, cp),
        _loop(settings, producer, "dead", [topics.dead], NoticeDead, outcomes, cp),
    ]
