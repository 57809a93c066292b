"""The assess consumer: reads ``incidents.reported``, writes ``incidents.assessed`` and the notices (legal ones on
``notices.requested``, customer alerts on ``notices.alerts``).

Steps per report: parse (the loop) → look up the reporter → find the affected customers (names in the report
that match nothing never widen it; on-call is alerted about them) → if none, record that and alert on-call → per
customer: its jurisdictions and clocks, then its notices, each stamped with its release mode by the release
policy → an on-call alert where the policy gives the report to on-call only → produce (queued with the async
``send``) → remember the revision for later references → (the loop) flush once and commit.

Messages go out through ``emit``, so the same steps run on Kafka, in ``breachwire assess --dry-run`` and in
the benchmark. Customers are streamed one at a time: 300,000 affected customers never sit in memory as notices.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from consumers.assess.assessment import Assessor, CustomerAssessment
from consumers.assess.history import Recall, RevisionHistory
from consumers.assess.impact import affected_customers, data_categories, unserved_names
from consumers.assess.notices import NoticeBuilder, incident_facts
from consumers.assess.release import ReleasePolicy, load_release_policy
from consumers.assess.rules import RuleBook, load_rules
from runtime.consumer import ConsumerLoop, Received
from runtime.datamap import MapSource, Subprocessor, SubprocessorKind
from runtime.kafka import make_consumer, make_producer, read_key, send
from runtime.notice_signing import NoticeSigner
from runtime.settings import OncallSettings, Settings
from runtime.topics import Topics, topics_for
from schemas import IncidentAssessed, IncidentReported, NoticeRequested
from schemas.common import Message

log = structlog.get_logger(__name__)

Emit = Callable[[str, str, Message], None]
"""(topic, key, message): queue one message for the topic."""


@dataclass(frozen=True)
class Reach:
    """How far one report went: the customers it touched and the notices it asked for."""

    customers: int
    notices: int


class Assess:
    def __init__(
        self,
        datamap: MapSource,
        rules: RuleBook,
        topics: Topics,
        emit: Emit,
        oncall: OncallSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        recall: Recall | None = None,
        *,
        policy: ReleasePolicy,
        signer: NoticeSigner,
    ) -> None:
        self._signer = signer
        self._maps = datamap
        self._datamap = datamap.current()
        self._policy = policy
        self._rules = rules
        self._topics = topics
        self._emit = emit
        self._oncall = oncall
        self._clock = clock
        self._history = RevisionHistory(recall)
        self._vocabulary = self._datamap.vocabulary

    def __call__(self, batch: Sequence[Received[IncidentReported]]) -> None:
        latest = self._maps.current()  # one map for the whole batch; a map loaded again since is taken here
        if latest is not self._datamap:
            self._datamap, self._vocabulary = latest, latest.vocabulary
        for received in batch:
            self.assess(received.message)

    def assess(self, reported: IncidentReported) -> Reach:
        """Produce the assessments and notices of one report."""
        log_ = log.bind(incident_id=reported.incident_id, revision=reported.revision)
        now = self._clock()

        # 1. Who reported it.
        subprocessor = self._datamap.subprocessors.get(reported.subprocessor_id)
        known = subprocessor is not None
        if subprocessor is None:
            subprocessor = _stand_in(reported.subprocessor_id)

        # 2. Whom it touches, and what data.
        customers = affected_customers(reported.report, subprocessor, self._datamap) if known else []
        unserved = unserved_names(reported.report, subprocessor, self._vocabulary) if known else []
        categories = data_categories(reported.report, subprocessor)
        facts = incident_facts(reported, subprocessor, categories)
        # Earlier revisions only matter to customers' notices (recalling them may read Kafka).
        modes = self._policy.modes(reported.source, reported.report.status)
        earlier = self._history.earlier(reported) if customers else []
        builder = NoticeBuilder(reported, facts, now, earlier, modes, signer=self._signer)
        prototype = _assessed_prototype(reported, categories, now)

        # 3. No one: recorded, and on-call told.
        if not customers:
            reason = "the reporter is not in the data map" if not known else _why_no_one(reported, subprocessor)
            if unserved:
                reason += f"; it names {_names(unserved, subprocessor)}"
            log_.warning("report touches no customer", reason=reason)
            no_one = prototype.model_copy(update={"no_one_affected": True})
            self._emit(self._topics.assessed, reported.incident_id, no_one)
            alert = builder.oncall_alert(self._oncall, reason)
            self._emit(self._topics.requested, alert.recipient_id, alert)
            return Reach(0, 1)

        # 4. Names that matched nothing: the customers found are told, and on-call sees what was left out.
        requested = 0
        if unserved:
            log_.warning("report names what the data map does not serve", names=unserved)
            alert = builder.unknown_names_alert(self._oncall, _names(unserved, subprocessor))
            self._emit(self._topics.requested, alert.recipient_id, alert)
            requested += 1

        # 5. Each customer: jurisdictions and clocks, then notices.
        assessor = Assessor(self._rules, reported.report)
        for customer in customers:
            assessment = assessor.assess(customer)
            notices = builder.for_customer(assessment, self._oncall.email)
            self._emit(self._topics.assessed, reported.incident_id, _assessed(prototype, assessment, notices))
            for notice in notices:
                self._emit(self._topics.requested_for(notice), notice.recipient_id, notice)
            requested += len(notices)

        # 6. An audience the release policy gives to on-call only: on-call is told, once per report.
        policy_alert = builder.policy_alert(self._oncall, len(customers))
        if policy_alert is not None:
            self._emit(self._topics.requested, policy_alert.recipient_id, policy_alert)
            requested += 1

        # 7. Remembered, so that the next revision's notices reference these.
        self._history.record(reported, frozenset(c.id for c in customers))
        log_.info("report assessed", customers=len(customers), notices=requested)
        return Reach(len(customers), requested)


def _assessed_prototype(reported: IncidentReported, categories: list[str], now: datetime) -> IncidentAssessed:
    """The fields every assessment of this report shares; the customer's are filled in by ``_assessed`` (or
    ``no_one_affected`` set, when the report touches no one)."""
    return IncidentAssessed(
        incident_id=reported.incident_id,
        revision=reported.revision,
        customer_id="",
        assessed_at=now,
        data_categories=categories,
    )


def _assessed(
    prototype: IncidentAssessed, assessment: CustomerAssessment, notices: list[NoticeRequested]
) -> IncidentAssessed:
    # Copied, not validated: every value comes from validated models (see ``NoticeBuilder._from_prototype``).
    return prototype.model_copy(
        update={
            "customer_id": assessment.customer.id,
            "jurisdictions": assessment.jurisdiction_ids,
            "affected_people": assessment.affected_people,
            "audiences": list(dict.fromkeys([n.audience for n in notices])),
            "deadlines": assessment.deadlines,
            "notice_ids": [n.notice_id for n in notices],
        }
    )


def _why_no_one(reported: IncidentReported, subprocessor: Subprocessor) -> str:
    report = reported.report
    if report.customer_accounts:
        return "none of the named customer accounts is in the data map"
    if subprocessor.kind is SubprocessorKind.INFRASTRUCTURE:
        return f"no customer is hosted in {', '.join(report.regions or subprocessor.regions)}"
    if subprocessor.kind is SubprocessorKind.SERVICE:
        return f"no customer uses {', '.join(report.features or subprocessor.features)}"
    return "no customer had granted this subcontractor access during the incident window"


def _names(unserved: list[str], subprocessor: Subprocessor) -> str:
    return f"{', '.join(unserved)}, which {subprocessor.id} does not serve or the data map does not know"


def _recorded_assessments(settings: Settings, topics: Topics, incident_id: str) -> list[IncidentAssessed]:
    """The assessments of an incident already on ``incidents.assessed`` (written before their reports' commit)."""
    values = read_key(settings.kafka, topics.assessed, incident_id, settings.kafka.recall_timeout_s)
    return [IncidentAssessed.model_validate_json(value) for value in values]


def _stand_in(subprocessor_id: str) -> Subprocessor:
    # A reporter missing from the map (an on-call declaration naming one, or a map changed since): the report is
    # still recorded and on-call alerted, so the facts need a name to show.
    return Subprocessor.model_construct(
        id=subprocessor_id, name=f"unknown subprocessor {subprocessor_id}", kind=SubprocessorKind.SERVICE
    )


def build(
    settings: Settings, datamap: MapSource, rules: RuleBook | None = None, policy: ReleasePolicy | None = None
) -> ConsumerLoop[IncidentReported]:
    """The assess loop; ``rules`` and ``policy`` loaded once at start (from ``settings.rules_dir`` and
    ``settings.release_policy`` when not given)."""
    topics = topics_for(settings.kafka)
    producer = make_producer(settings.kafka)
    consumer = make_consumer(settings.kafka, "assess", [topics.reported])
    assess = Assess(
        datamap,
        rules if rules is not None else load_rules(settings.rules_dir),
        topics,
        lambda topic, key, message: send(producer, topic, key, message),
        settings.oncall,
        recall=lambda incident_id: _recorded_assessments(settings, topics, incident_id),
        policy=policy if policy is not None else load_release_policy(settings.release_policy),
        signer=NoticeSigner.from_settings(settings.signing),
    )
    return ConsumerLoop(
        "assess",
        consumer,
        producer,
        topics.invalid,
        IncidentReported,
        assess,
        settings.kafka,
    )
