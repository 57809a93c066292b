"""Incidents as reported and assessed: reports, assessments, who is affected, and the incident views."""

from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from runtime.store.db import Store, insert_ignore
from runtime.store.tables import affected, assessments, incidents, reports
from schemas import IncidentAssessed, IncidentReported


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
        """Record an assessment; the customer (``name``, ``region`` from the data map) is listed as affected
        under each of its jurisdictions, as of the latest assessment."""
        with self.engine.begin() as conn:
            added = insert_ignore(
                conn,
                assessments,
                [
                    {
                        "incident_id": message.incident_id,
                        "revision": message.revision,
                        "customer_id": message.customer_id,
                        "assessed_at": message.assessed_at,
                        "message": message.model_dump_json(),
                    }
                ],
            )
            if added and message.customer_id:
                self._list_affected(conn, message, name, region)
            return bool(added)

    def _list_affected(self, conn: Connection, message: IncidentAssessed, name: str, region: str) -> None:
        key = (affected.c.incident_id == message.incident_id) & (affected.c.customer_id == message.customer_id)
        listed = conn.execute(select(func.max(affected.c.assessed_at)).where(key)).scalar()
        if listed is not None and listed > message.assessed_at:
            return  # a later assessment is listed already
        conn.execute(delete(affected).where(key))
        if message.no_one_affected:
            return
        conn.execute(
            affected.insert(),
            [
                {
                    "incident_id": message.incident_id,
                    "customer_id": message.customer_id,
                    "jurisdiction": jurisdiction,
                    "name": name[:200],
                    "region": region,
                    "assessed_at": message.assessed_at,
                }
                for jurisdiction in sorted(set(message.jurisdictions)) or [""]
            ],
        )

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
