"""The clock consumer: reads ``incidents.assessed``, follows each legal clock in the ledger, and on every turn
checks them against the time.

Steps:
  1. track   — each deadline with a due time becomes (or moves) a clock in the ledger, started at the
               incident's awareness time (the assessment's time when the ledger does not know it yet);
  2. watch   — a clock whose notice is not delivered reminds on-call when half and 80% of its time has run
               (``settings.oncall.reminder_fractions``) and escalates when it runs out;
  3. holds   — an incident whose notices the release policy holds reminds on-call at the same shares of the
               earliest clock those notices affect (the clocks of the customers they go to), and escalates at
               80% of the controller clock (``settings.oncall.hold_escalation_fraction``) while any is still
               held: a hold can delay a notice, never make it silently late. These reminders stand for the
               held customers' own clock reminders (one per incident, not one per customer); a deadline that
               passes while held is escalated per clock as any other;
  4. notify  — each reminder is a ``NoticeRequested`` with audience on-call, acknowledged by Kafka before the
               clock moves on; its id is fixed per clock (or held incident) and stage, so a repeat after a crash
               is one notice.
"""

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from kafka import KafkaProducer

from runtime.consumer import ConsumerLoop, Received
from runtime.kafka import make_consumer, make_producer, publish
from runtime.notice_signing import NoticeSigner
from runtime.oncall import oncall_alert
from runtime.settings import OncallSettings, Settings
from runtime.store import Ledger
from runtime.store.clocks import ClockRow
from runtime.store.delivery import NoticeState
from runtime.store.release import HeldClock, HeldClocks
from runtime.topics import Topics, topics_for
from schemas import (
    NOTICE_AUDIENCE_FOR,
    Audience,
    Deadline,
    IncidentAssessed,
    IncidentFacts,
    NoticeRequested,
)

log = structlog.get_logger(__name__)


class TrackClocks:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __call__(self, batch: Sequence[Received[IncidentAssessed]]) -> None:
        for received in batch:
            assessed = received.message
            incident = self._ledger.incidents.incident(assessed.incident_id)
            started = incident["aware_at"] if incident else assessed.assessed_at
            for deadline in assessed.deadlines:
                if deadline.due_at is None:
                    continue
                self._ledger.clocks.track_clock(
                    ClockRow(
                        incident_id=assessed.incident_id,
                        customer_id=assessed.customer_id,
                        jurisdiction=deadline.jurisdiction,
                        audience=deadline.audience,
                        started_at=min(started, deadline.due_at),
                        due_at=deadline.due_at,
                        citation=deadline.citation,
                        stage=0,
                    )
                )


class WatchClocks:
    def __init__(
        self,
        ledger: Ledger,
        producer: KafkaProducer,
        topics: Topics,
        oncall: OncallSettings,
        ack_timeout_s: float,
        *,
        signer: NoticeSigner,
    ) -> None:
        self._signer = signer
        self._ledger = ledger
        self._producer = producer
        self._topics = topics
        self._oncall = oncall
        self._fractions = sorted(oncall.reminder_fractions)
        self._ack_timeout_s = ack_timeout_s

    def tick(self, now: datetime) -> int:
        """Send what is due; returns how many reminders and escalations went out."""
        return self._clocks(now) + self._holds(now)

    def _clocks(self, now: datetime) -> int:
        sent = 0
        final = len(self._fractions) + 1
        held = self._ledger.release.held_recipients()
        # A dismissed report was no breach: its clocks stop (its notices are often held and never sent).
        for clock in self._ledger.clocks.clocks(below_stage=final, running=True):
            stage = self._stage(clock, now)
            if stage <= clock.stage:
                continue
            # One reminder per incident speaks for the customers whose notices are held (``_holds``), not one per
            # customer and clock; a deadline that passes while held is still escalated here.
            if stage < final and (clock.incident_id, clock.customer_id) in held:
                continue
            if self._met(clock):
                continue
            publish(
                self._producer, self._topics.requested, "oncall", self._notice(clock, stage, now), self._ack_timeout_s
            )
            if self._ledger.clocks.advance_clock(clock, stage):
                sent += 1
                log.info("clock reminder", incident_id=clock.incident_id, stage=stage, escalation=stage == final)
        return sent

    def _holds(self, now: datetime) -> int:
        sent = 0
        for held in self._ledger.release.held_clocks():
            stage, clock = hold_stage(held, now, self._fractions, self._oncall.hold_escalation_fraction)
            if stage <= held.stage:
                continue
            notice = self._hold_notice(held, stage, clock, now)
            publish(self._producer, self._topics.requested, "oncall", notice, self._ack_timeout_s)
            if self._ledger.release.advance_hold_reminder(held.incident_id, stage):
                sent += 1
                log.info("held notices reminder", incident_id=held.incident_id, stage=stage, held=held.held)
        return sent

    def _hold_notice(self, held: HeldClocks, stage: int, clock: HeldClock, now: datetime) -> NoticeRequested:
        jurisdiction, audience, started, due = clock
        release = f"`breachwire incident release {held.incident_id} --reason ...`"
        if stage > len(self._fractions):
            what = (
                f"ESCALATION: {self._oncall.hold_escalation_fraction:.0%} of the {audience} clock under "
                f"{jurisdiction} is used and {held.held} notice(s) are still held"
            )
        else:
            what = (
                f"reminder: {held.held} notice(s) held for release, and {self._fractions[stage - 1]:.0%} of the "
                f"earliest clock they affect is used ({audience} under {jurisdiction})"
            )
        description = (
            f"{what}. It is due {due:%Y-%m-%d %H:%M} UTC. Release them ({release}, or per audience with "
            "--audience), or dismiss the incident: a hold may delay a notice, never make it late."
        )
        deadline = Deadline(jurisdiction=jurisdiction, audience=audience, due_at=due)
        return oncall_alert(
            self._oncall,
            self._signer,
            key="hold",
            revision=f"hold.{stage}",
            requested_at=now,
            facts=self._facts(held.incident_id, description, started),
            deadlines=[deadline],
        )

    def _stage(self, clock: ClockRow, now: datetime) -> int:
        if now >= clock.due_at:
            return len(self._fractions) + 1
        run = _run(clock.started_at, clock.due_at, now)
        return sum(1 for f in self._fractions if run >= f)

    def _met(self, clock: ClockRow) -> bool:
        audience = NOTICE_AUDIENCE_FOR.get(Audience(clock.audience))
        return audience is not None and any(
            n.audience == audience
            and n.state == NoticeState.DELIVERED
            and (audience is Audience.AUTHORITY or n.recipient_id == clock.customer_id)
            for n in self._ledger.delivery.notices(clock.incident_id)
        )

    def _notice(self, clock: ClockRow, stage: int, now: datetime) -> NoticeRequested:
        escalation = stage > len(self._fractions)
        what = (
            "ESCALATION: deadline passed"
            if escalation
            else f"reminder: {self._fractions[stage - 1]:.0%} of the time used"
        )
        revision = f"clock.{clock.customer_id}.{clock.jurisdiction}.{clock.audience}.{stage}"
        description = (
            f"{what} — {clock.audience} notice under {clock.jurisdiction} for {clock.customer_id} "
            f"is due {clock.due_at:%Y-%m-%d %H:%M} UTC and not delivered ({clock.citation})."
        )
        return oncall_alert(
            self._oncall,
            self._signer,
            key="clock",
            revision=revision,
            requested_at=now,
            facts=self._facts(clock.incident_id, description, clock.started_at),
            deadlines=[
                Deadline(
                    jurisdiction=clock.jurisdiction,
                    audience=clock.audience,
                    due_at=clock.due_at,
                    citation=clock.citation,
                )
            ],
        )

    def _facts(self, incident_id: str, description: str, started: datetime) -> IncidentFacts:
        """The incident as its latest report tells it, with the alert's text as the description."""
        reports = self._ledger.incidents.reports_of(incident_id)
        latest = max(reports, key=lambda r: r.report.sequence) if reports else None
        return IncidentFacts(
            incident_id=incident_id,
            subprocessor_id=latest.subprocessor_id if latest else "",
            subprocessor_name=latest.subprocessor_id if latest else "",
            status=latest.report.status if latest else "suspected",
            sequence=latest.report.sequence if latest else 1,
            title=latest.report.title if latest else incident_id,
            description=description,
            aware_at=latest.report.aware_at if latest else started,
        )


def hold_stage(held: HeldClocks, now: datetime, fractions: Sequence[float], escalation: float) -> tuple[int, HeldClock]:
    """The stage an incident's held notices reached, and the clock that tells it: one reminder per share in
    ``fractions`` of the earliest clock they affect, then the escalation (``len(fractions) + 1``) once the
    controller clock (else the earliest) has run its ``escalation`` share."""
    earliest = min(held.clocks, key=lambda c: c[3])
    controller = [c for c in held.clocks if c[1] == Audience.CONTROLLER]
    basis = min(controller, key=lambda c: c[3]) if controller else earliest
    if _run(basis[2], basis[3], now) >= escalation:
        return len(fractions) + 1, basis
    run = _run(earliest[2], earliest[3], now)
    return sum(1 for f in fractions if run >= f), earliest


def _run(started: datetime, due: datetime, now: datetime) -> float:
    """The share of a clock's time used by ``now`` (1.0 and more once due)."""
    span = (due - started).total_seconds()
    return (now - started).total_seconds() / span if span > 0 else 1.0


class ClockService:
    """The loop over ``incidents.assessed`` and the watch (run by ``breachwire run clock``)."""

    name = "clock"

    def __init__(
        self,
        loop: ConsumerLoop[IncidentAssessed],
        watch: WatchClocks,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._loop = loop
        self.loops: list[ConsumerLoop[IncidentAssessed]] = [loop]
        self._watch = watch
        self._now = now

    def run_once(self) -> int:
        read = self._loop.run_once()
        self._watch.tick(self._now())
        return read

    def run(self, stop: threading.Event, every_s: float = 5.0) -> None:
        """The loop in a thread of its own; the watch every ``every_s`` until ``stop``."""
        reader = threading.Thread(target=self._loop.run, args=(stop,), name="clock.track")
        reader.start()
        try:
            while not stop.is_set() and reader.is_alive():
                self._watch.tick(self._now())
                stop.wait(every_s)
        finally:
            stop.set()
            reader.join()


def build(settings: Settings, ledger: Ledger) -> ClockService:
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    loop = ConsumerLoop(
        "clock",
        make_consumer(settings.kafka, "clock", [topics.assessed]),
        producer,
        topics.invalid,
        IncidentAssessed,
        TrackClocks(ledger),
        settings.kafka,
    )
    watch = WatchClocks(
        ledger,
        producer,
        topics,
        settings.oncall,
        settings.kafka.ack_timeout_s,
        signer=NoticeSigner.from_settings(settings.signing),
    )
    return ClockService(loop, watch)
