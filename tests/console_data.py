"""An incident put straight into a ledger as the record and clock consumers would leave it (for the console's
tests and benchmark): the assess consumer's own steps on a report, without Kafka."""

from datetime import UTC, datetime

from breachwire.commands.assess import offline_assessor
from consumers.assess.rules import RuleBook
from runtime.datamap import DataMap
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.store.clocks import ClockRow
from runtime.store.incidents import Assessment
from schemas import IncidentAssessed, IncidentReported, NoticeRequested, Report, Source, incident_id
from schemas.common import Message


def record_incident(
    ledger: Ledger,
    datamap: DataMap,
    rules: RuleBook,
    settings: Settings,
    subprocessor: str,
    report: Report,
    source: Source = Source.SUBPROCESSOR,
) -> tuple[IncidentReported, list[NoticeRequested]]:
    now = datetime.now(UTC)
    reported = IncidentReported(
        incident_id=incident_id(subprocessor, report.reference),
        subprocessor_id=subprocessor,
        source=source,
        delivery_id=f"test-{report.reference}",
        received_at=now,
        report=report,
    )
    emitted: list[Message] = []
    offline_assessor(datamap, rules, settings, lambda _t, _k, m: emitted.append(m), lambda: now).assess(reported)
    ledger.incidents.record_report(reported)
    notices = [m for m in emitted if isinstance(m, NoticeRequested)]
    assessed = [m for m in emitted if isinstance(m, IncidentAssessed) and m.customer_id]
    ledger.incidents.record_assessments(
        [
            Assessment(m, datamap.customers[m.customer_id].name, datamap.customers[m.customer_id].region)
            for m in assessed
        ]
    )
    for m in assessed:
        for d in m.deadlines:
            if d.due_at is not None:
                ledger.clocks.track_clock(
                    ClockRow(m.incident_id, m.customer_id, d.jurisdiction, d.audience, now, d.due_at, d.citation, 0)
                )
    ledger.delivery.record_requested(notices)
    return reported, notices
