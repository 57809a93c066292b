"""Incidents as reported and assessed: reports, assessments, who is affected, and the incident views."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from runtime.store.db import Store, in_chunks, insert_ignore, insert_skipping
from runtime.store.tables import affected, assessments, incidents, reports
from schemas import IncidentAssessed, IncidentReported


@dataclass(frozen=True, slots=True)
class Assessment:
    """An assessment to record, with its customer's name and region as the data map has them (for the console's
    list of who is affected)."""

    message: IncidentAssessed
    name: str = ""
    region: str = ""


class IncidentStore(Store):
    def record_report(self, message: IncidentReported) -> bool:
        """Record a report (once per incident revision); returns False when it was already recorded."""
        report = message.report
        with self.engine.begin() as conn:
            added = insert_ignore(
                conn,
                reports,
                [
                    {
                        "incident_id": message.incident_id,
                        "revision": message.revision,
                        "delivery_id": message.delivery_id,
                        "received_at": message.received_at,
                        "message": message.model_dump_json(),
                    }
                ],
            )
            created = insert_ignore(
                conn,
                incidents,
                [
                    {
                        "incident_id": message.incident_id,
                        "subprocessor_id": message.subprocessor_id,
                        "source": message.source.value,
                        "status": report.status.value,
                        "title": report.title,
                        "aware_at": report.aware_at,
                        "first_reported_at": message.received_at,
                        "last_reported_at": message.received_at,
                    }
                ],
            )
            if added and not created:
                conn.execute(
                    update(incidents)
                    .where(incidents.c.incident_id == message.incident_id)
                    .where(incidents.c.last_reported_at <= message.received_at)
                    .values(status=report.status.value, title=report.title, last_reported_at=message.received_at)
                )
        return bool(added)

    def record_assessment(self, message: IncidentAssessed, name: str = "", region: str = "") -> bool:
        """Record one assessment (``record_assessments`` for a batch); returns False when it was recorded before."""
        return self.record_assessments([Assessment(message, name, region)]) == 1

    def record_assessments(self, batch: Sequence[Assessment]) -> int:
        """Record a batch of assessments in one transaction; returns how many were new. Each new one lists its
        customer as affected under each of its jurisdictions, as of the latest assessment of that customer (a
        later one, in the ledger or the batch, stands)."""
        with self.engine.begin() as conn:
            key_columns = (assessments.c.incident_id, assessments.c.revision, assessments.c.customer_id)
            stmt = insert_skipping(conn, assessments).returning(*key_columns)
            rows = [
                {
                    "incident_id": a.message.incident_id,
                    "revision": a.message.revision,
                    "customer_id": a.message.customer_id,
                    "assessed_at": a.message.assessed_at,
                    "message": a.message.model_dump_json(),
                }
                for a in batch
            ]
            added = {tuple(row) for row in conn.execute(stmt, rows).all()} if rows else set()
            latest: dict[tuple[str, str], Assessment] = {}  # (incident, customer) → its latest new assessment
            for a in batch:
                m = a.message
                if m.customer_id and (m.incident_id, m.revision, m.customer_id) in added:
                    seen = latest.get((m.incident_id, m.customer_id))
                    if seen is None or m.assessed_at >= seen.message.assessed_at:
                        latest[(m.incident_id, m.customer_id)] = a
            self._list_affected(conn, latest)
            return len(added)

    def _list_affected(self, conn: Connection, latest: dict[tuple[str, str], Assessment]) -> None:
        """Replace the affected rows of each (incident, customer) with its latest assessment's, unless the ledger
        lists a later one already."""
        by_incident: dict[str, list[str]] = {}
        for incident_id, customer_id in latest:
            by_incident.setdefault(incident_id, []).append(customer_id)
        replace: list[Assessment] = []
        for incident_id, customers in by_incident.items():
            for chunk in in_chunks(customers):
                where = (affected.c.incident_id == incident_id) & affected.c.customer_id.in_(chunk)
                listed = dict(
                    conn.execute(
                        select(affected.c.customer_id, func.max(affected.c.assessed_at))
                        .where(where)
                        .group_by(affected.c.customer_id)
                    ).all()
                )
                fresh = [
                    c for c in chunk if c not in listed or listed[c] <= latest[(incident_id, c)].message.assessed_at
                ]
                if fresh:
                    conn.execute(
                        delete(affected).where(
                            (affected.c.incident_id == incident_id) & affected.c.customer_id.in_(fresh)
                        )
                    )
                replace += [latest[(incident_id, c)] for c in fresh]
        rows = [
            {
                "incident_id": a.message.incident_id,
                "customer_id": a.message.customer_id,
                "jurisdiction": jurisdiction,
                "name": a.name[:200],
                "region": a.region,
                "assessed_at": a.message.assessed_at,
            }
            for a in replace
            if not a.message.no_one_affected
            for jurisdiction in sorted(set(a.message.jurisdictions)) or [""]
        ]
        if rows:
            conn.execute(affected.insert(), rows)

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(incidents).where(incidents.c.incident_id == incident_id)).first()
        return None if row is None else dict(row._mapping)

    def incident_list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(incidents).order_by(incidents.c.last_reported_at.desc()))
            return [dict(row._mapping) for row in rows]

    def reports_of(self, incident_id: str) -> list[IncidentReported]:
        """Every report about an incident, in the order they were received."""
        query = select(reports.c.message).where(reports.c.incident_id == incident_id).order_by(reports.c.received_at)
        with self.engine.connect() as conn:
            return [IncidentReported.model_validate_json(m) for m in conn.execute(query).scalars()]

    def assessments_of(self, incident_id: str) -> list[IncidentAssessed]:
        query = (
            select(assessments.c.message)
            .where(assessments.c.incident_id == incident_id)
            .order_by(assessments.c.assessed_at, assessments.c.customer_id)
        )
        with self.engine.connect() as conn:
            return [IncidentAssessed.model_validate_json(m) for m in conn.execute(query).scalars()]
