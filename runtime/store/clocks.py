"""Legal clocks followed per incident, customer, jurisdiction and audience, and the reminders sent."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from runtime.store.db import Store, insert_ignore
from runtime.store.tables import clocks, incidents
from schemas import Audience


@dataclass(frozen=True)
class ClockRow:
    incident_id: str
    customer_id: str
    jurisdiction: str
    audience: Audience
    started_at: datetime
    due_at: datetime
    citation: str
    stage: int


class ClockStore(Store):
    def track_clock(self, clock: ClockRow) -> None:
        """Follow a clock; a later assessment may move its due time (reminders already sent stay sent)."""
        with self.engine.begin() as conn:
            if not insert_ignore(conn, clocks, [clock.__dict__]):
                conn.execute(
                    update(clocks)
                    .where(
                        clocks.c.incident_id == clock.incident_id,
                        clocks.c.customer_id == clock.customer_id,
                        clocks.c.jurisdiction == clock.jurisdiction,
                        clocks.c.audience == clock.audience,
                    )
                    .values(due_at=clock.due_at, citation=clock.citation)
                )

    def clocks(
        self, incident_id: str | None = None, *, below_stage: int | None = None, running: bool = False
    ) -> list[ClockRow]:
        """The clocks (of one incident), earliest due first; ``running``: not those of dismissed incidents."""
        query = select(clocks).order_by(clocks.c.due_at, clocks.c.customer_id, clocks.c.jurisdiction)
        if incident_id is not None:
            query = query.where(clocks.c.incident_id == incident_id)
        if below_stage is not None:
            query = query.where(clocks.c.stage < below_stage)
        if running:
            dismissed = select(incidents.c.incident_id).where(incidents.c.status == "dismissed")
            query = query.where(clocks.c.incident_id.not_in(dismissed))
        with self.engine.connect() as conn:
            return [ClockRow(**row._mapping) for row in conn.execute(query)]

    def advance_clock(self, clock: ClockRow, stage: int) -> bool:
        """Move a clock to ``stage``; False when another process already did (so only one reminder goes)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(clocks)
                .where(
                    clocks.c.incident_id == clock.incident_id,
                    clocks.c.customer_id == clock.customer_id,
                    clocks.c.jurisdiction == clock.jurisdiction,
                    clocks.c.audience == clock.audience,
                    clocks.c.stage < stage,
                )
                .values(stage=stage)
            )
        return bool(result.rowcount)
