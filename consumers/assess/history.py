"""Which earlier revisions of an incident reached which customers, so that later notices can reference them.

A notice id is derived from (incident, recipient, audience, channel, revision) and a revision is
``<status>.<sequence>``; the statuses of earlier sequences cannot be derived from a later report. So the
assessor remembers, per incident, each revision it assessed and the customers it reached, and a later notice
references the earlier notices to the same recipient, audience and channel. All reports of an incident share a
partition of ``incidents.reported`` (keyed by incident id), so one assessor sees them in order.

Memory alone forgets on a restart, and after a rebalance another assessor may have seen the earlier revisions.
So when memory lacks any earlier sequence of a report's incident, the history is recalled from the
assessments already on ``incidents.assessed`` (keyed by incident id too), which every assessor wrote before
committing. A recall that fails leaves fewer references, never a wrong one: ids, and so deduplication, do not
depend on references.
"""

from collections.abc import Callable, Iterable

import structlog

from schemas import IncidentAssessed, IncidentReported

log = structlog.get_logger(__name__)

Recall = Callable[[str], Iterable[IncidentAssessed]]
"""The assessments recorded so far for an incident id, in the order written."""

# revision -> (sequence, customer ids reached), in the order assessed
Revisions = dict[str, tuple[int, frozenset[str]]]


class RevisionHistory:
    def __init__(self, recall: Recall | None = None) -> None:
        self._recall = recall
        self._seen: dict[str, Revisions] = {}

    def earlier(self, reported: IncidentReported) -> list[tuple[str, frozenset[str]]]:
        """(revision, customers reached) of the incident's revisions before this one."""
        sequence = reported.report.sequence
        revisions = self._seen.get(reported.incident_id, {})
        known = {seq for seq, _ in revisions.values()}
        if self._recall is not None and not known.issuperset(range(1, sequence)):
            revisions = self._seen[reported.incident_id] = self._recalled(reported.incident_id)
        return [(rev, reached) for rev, (seq, reached) in revisions.items() if seq < sequence]

    def record(self, reported: IncidentReported, reached: frozenset[str]) -> None:
        revisions = self._seen.setdefault(reported.incident_id, {})
        revisions.setdefault(reported.revision, (reported.report.sequence, reached))

    def _recalled(self, incident_id: str) -> Revisions:
        reached: dict[str, set[str]] = {}
        try:
            for assessed in self._recall(incident_id) if self._recall else ():
                if assessed.incident_id == incident_id and assessed.customer_id:
                    reached.setdefault(assessed.revision, set()).add(assessed.customer_id)
        except Exception as exc:  # the history only adds references: the notices go out without them
            log.warning("earlier revisions not recalled", incident_id=incident_id, error=str(exc))
        return {rev: (_sequence(rev), frozenset(customers)) for rev, customers in reached.items()}


def _sequence(revision: str) -> int:
    return int(revision.rpartition(".")[2])


def references_for(
    earlier: list[tuple[str, frozenset[str]]], customer_id: str, notice_id: Callable[[str], str]
) -> list[str]:
    """The ids of the earlier notices to this customer; ``notice_id`` maps a revision to the id it had."""
    return [notice_id(revision) for revision, reached in earlier if customer_id in reached]
