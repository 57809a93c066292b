"""Intake claims: a repeated webhook-id gets the same answer and is published once."""

from datetime import datetime

from sqlalchemy import delete, select, update

from runtime.store.db import Store, insert_ignore
from runtime.store.tables import deliveries


class IntakeStore(Store):
    def claim_delivery(self, source: str, delivery_id: str, now: datetime, stale_before: datetime) -> str | None:
        """Claim a delivery for publishing. Returns None when claimed, the stored answer when it was accepted
        before, or ``"pending"`` while another request holds a fresh claim on it (a claim older than
        ``stale_before`` was left by a crashed intake and is taken over)."""
        key = (deliveries.c.source == source) & (deliveries.c.delivery_id == delivery_id)
        with self.engine.begin() as conn:
            row = {"source": source, "delivery_id": delivery_id, "state": "pending", "claimed_at": now}
            if insert_ignore(conn, deliveries, [row]):
                return None
            state, answer = conn.execute(select(deliveries.c.state, deliveries.c.answer).where(key)).one()
            if state == "accepted":
                return str(answer)
            taken = conn.execute(
                update(deliveries)
                .where(key, deliveries.c.state == "pending", deliveries.c.claimed_at < stale_before)
                .values(claimed_at=now)
            )
            return None if taken.rowcount else "pending"

    def accept_delivery(self, source: str, delivery_id: str, answer: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.source == source, deliveries.c.delivery_id == delivery_id)
                .values(state="accepted", answer=answer)
            )

    def release_delivery(self, source: str, delivery_id: str) -> None:
        """Forget a claim whose publishing failed, so that the sender's retry is published."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(deliveries).where(
                    deliveries.c.source == source,
                    deliveries.c.delivery_id == delivery_id,
                    deliveries.c.state == "pending",
                )
            )
