"""Intake claims: a repeated webhook-id gets the same answer and is published once.

A request claims its delivery before publishing and accepts it once Kafka has acknowledged it. The claim already
holds the answer (it follows from the signed body), so accepting only marks the claim: the intake writes the
claims, accepts and releases of concurrent requests together, in one transaction (``write``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, select, update

from runtime.store.db import Store, insert_skipping
from runtime.store.tables import deliveries

PENDING = "pending"

DeliveryKey = tuple[str, str]
"""(source, delivery_id): a subprocessor (or monitor) and its webhook-id."""


@dataclass(frozen=True)
class DeliveryClaim:
    source: str
    delivery_id: str
    answer: str
    """The answer to repeat to every retry once the delivery is accepted."""

    @property
    def key(self) -> DeliveryKey:
        return (self.source, self.delivery_id)


class IntakeStore(Store):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # Made once: the intake writes a batch every few milliseconds, and building these statements anew
        # (and their cache keys) cost a fifth of each batch.
        pending = (
            deliveries.c.source == bindparam("key_source"),
            deliveries.c.delivery_id == bindparam("key_delivery_id"),
            deliveries.c.state == PENDING,
        )
        self._accept = update(deliveries).where(*pending).values(state="accepted")
        self._release = delete(deliveries).where(*pending)
        self._insert = insert_skipping(engine, deliveries).returning(deliveries.c.source, deliveries.c.delivery_id)

    def write(
        self,
        claims: Sequence[DeliveryClaim],
        accepts: Sequence[DeliveryKey],
        releases: Sequence[DeliveryKey],
        now: datetime,
        stale_before: datetime,
    ) -> list[str | None]:
        """In one transaction: mark ``accepts`` accepted (Kafka has them); forget ``releases`` (claims whose
        publishing failed, so that the sender's retry is published); then claim ``claims`` for publishing.

        Returns, for each claim in order: None when claimed, the stored answer when it was accepted before, or
        ``"pending"`` while another request holds a fresh claim on it (a claim older than ``stale_before`` was
        left by a crashed intake and is taken over)."""
        with self.engine.begin() as conn:
            if accepts:
                conn.execute(self._accept, [{"key_source": s, "key_delivery_id": d} for s, d in accepts])
            if releases:
                conn.execute(self._release, [{"key_source": s, "key_delivery_id": d} for s, d in releases])
            return self._claim(conn, claims, now, stale_before) if claims else []

    def _claim(
        self, conn: Connection, claims: Sequence[DeliveryClaim], now: datetime, stale_before: datetime
    ) -> list[str | None]:
        first: dict[DeliveryKey, DeliveryClaim] = {}
        for claim in claims:
            first.setdefault(claim.key, claim)
        # In key order: two intakes inserting overlapping keys wait for each other in the same order, not in a cycle.
        order = sorted(first)
        rows = [
            {"source": s, "delivery_id": d, "state": PENDING, "answer": first[s, d].answer, "claimed_at": now}
            for s, d in order
        ]
        inserted: set[DeliveryKey] = {(s, d) for s, d in conn.execute(self._insert, rows).all()}
        outcome = {k: None if k in inserted else _existing(conn, first[k], now, stale_before) for k in order}
        results: list[str | None] = []
        seen: set[DeliveryKey] = set()
        for claim in claims:
            result = outcome[claim.key]
            if claim.key in seen:  # the same key twice in one batch: the first one holds the claim
                result = PENDING if result is None else result
            seen.add(claim.key)
            results.append(result)
        return results


def _existing(conn: Connection, claim: DeliveryClaim, now: datetime, stale_before: datetime) -> str | None:
    """A key claimed before: its answer when accepted, None when its claim was stale and is now ours, else
    ``"pending"``."""
    key = (deliveries.c.source == claim.source) & (deliveries.c.delivery_id == claim.delivery_id)
    row = conn.execute(select(deliveries.c.state, deliveries.c.answer).where(key)).one_or_none()
    if row is None:  # released since the insert looked: the sender's next try claims it
        return PENDING
    state, answer = row
    if state != PENDING:
        return str(answer)
    taken = conn.execute(
        update(deliveries)
        .where(key, deliveries.c.state == PENDING, deliveries.c.claimed_at < stale_before)
        .values(claimed_at=now, answer=claim.answer)
    )
    return None if taken.rowcount else PENDING
