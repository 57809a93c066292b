"""Which earlier revisions of an incident reached which customers, so that later notices can reference them.

A notice id is derived from (incident, recipient, audience, channel, revision) and a revision is
``<status>.<sequence>``; the statuses of earlier sequences cannot be derived from a later report, and the
ledger is not the assessor's to read. So the assessor remembers, per incident, each revision it assessed and
the customers it reached, and a later notice references the earlier notices to the same recipient, audience and
channel. The memory is the assessor's own: all reports of an incident share a partition of
``incidents.reported`` (keyed by incident id), so one assessor instance sees them in order. After a restart the
memory starts empty; a later notice then carries fewer references, never a wrong one (ids, and so
deduplication, do not depend on references).
"""

from collections.abc import Callable

from schemas import IncidentReported


class RevisionHistory:
    def __init__(self) -> None:
        # incident id -> [(sequence, revision, customer ids reached)], in the order assessed
        self._seen: dict[str, list[tuple[int, str, frozenset[str]]]] = {}

    def earlier(self, reported: IncidentReported) -> list[tuple[str, frozenset[str]]]:
        """(revision, customers reached) of the incident's revisions before this one."""
        sequence = reported.report.sequence
        return [(rev, reached) for seq, rev, reached in self._seen.get(reported.incident_id, []) if seq < sequence]

    def record(self, reported: IncidentReported, reached: frozenset[str]) -> None:
        entries = self._seen.setdefault(reported.incident_id, [])
        if all(rev != reported.revision for _, rev, _ in entries):
            entries.append((reported.report.sequence, reported.revision, reached))


def references_for(
    earlier: list[tuple[str, frozenset[str]]], customer_id: str, notice_id: Callable[[str], str]
) -> list[str]:
    """The ids of the earlier notices to this customer; ``notice_id`` maps a revision to the id it had."""
    return [notice_id(revision) for revision, reached in earlier if customer_id in reached]
