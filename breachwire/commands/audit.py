"""``breachwire audit verify`` and ``breachwire audit export INCIDENT_ID DIR`` (the GDPR Art. 33(5) evidence)."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from breachwire.progress import Progress
from runtime.settings import Settings
from schemas.ids import NOTICE_ID_RE, is_incident_id


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.audit import AuditLog
    from runtime.checkpoints import CheckpointError, CheckpointFile
    from runtime.store import Ledger

    if args.action == "export" and not is_incident_id(args.incident_id):
        print(
            f"breachwire audit: {args.incident_id!r} is not an incident id (inc_, then letters, digits or _)",
            file=sys.stderr,
        )
        return 2
    ledger = Ledger.connect(settings.ledger.url)
    try:
        audit = AuditLog(ledger, settings.audit.key)
        try:
            checkpoints = CheckpointFile(settings.audit_checkpoints).read()
            if args.action == "verify":
                return _verify(audit, settings, checkpoints, kafka=args.kafka)
            return _export(ledger, audit, args.incident_id, Path(args.dir), checkpoints)
        except CheckpointError as exc:
            print(f"breachwire audit: {exc}", file=sys.stderr)
            return 1
    finally:
        ledger.close()


def _verify(audit: Any, settings: Settings, checkpoints: list[Any], *, kafka: bool) -> int:
    from runtime.checkpoints import anchor, read_topic
    from runtime.topics import topics_for

    verdict = audit.verify()
    if not verdict.ok:
        print(f"audit trail BROKEN at entry {verdict.seq}: {verdict.problem}", file=sys.stderr)
        return 1
    sources = [(str(settings.audit_checkpoints), checkpoints)]
    if kafka:
        topic = topics_for(settings.kafka).checkpoints
        sources.append((f"topic {topic}", read_topic(settings.kafka, topic, settings.kafka.ack_timeout_s)))
    unkeyed = f" ({verdict.unkeyed} unkeyed, from before the chain was keyed)" if verdict.unkeyed else ""
    print(f"audit trail intact: {verdict.entries} entries{unkeyed}; head entry {verdict.head_seq} {verdict.head}")
    broken = False
    for where, found in sources:
        problem, matched = anchor(verdict, found, where)
        if problem is not None:
            print(f"audit trail BROKEN: {problem}", file=sys.stderr)
            broken = True
        elif matched is None:
            print(f"no checkpoint in {where}: a cut from the end cannot be told", file=sys.stderr)
        else:
            print(f"last checkpoint matched ({where}): entry {matched.seq} of {matched.at.isoformat()}")
    return 1 if broken else 0


def evidence(
    ledger: Any,
    audit: Any,
    incident_id: str,
    checkpoints: list[Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, str] | None:
    """An incident's evidence pack as files (relative path → text): ``timeline.json``, ``receipts.json``,
    ``checkpoints.json`` and each notice as it went out under ``notices/``; None when the ledger has no such
    incident. Raises ValueError for a notice id that is no notice id (it would name a file). ``progress`` counts
    the notices (a few ledger reads each: the long part of a large incident)."""
    from runtime.checkpoints import anchor

    if not is_incident_id(incident_id):
        return None
    incident = ledger.incidents.incident(incident_id)
    if incident is None:
        return None
    verdict = audit.verify()
    notices = ledger.delivery.notices(incident_id)
    entries = audit.entries(incident_id)
    problem, matched = anchor(verdict, checkpoints or [], "the checkpoint file") if verdict.ok else (None, None)
    timeline = {
        "incident": incident,
        "audit_chain": {
            "intact": verdict.ok and problem is None,
            "entries": verdict.entries,
            "unkeyed": verdict.unkeyed,
            "head": verdict.head,
            "head_seq": verdict.head_seq,
            "problem": verdict.problem or problem,
            "last_checkpoint_matched": matched.seq if matched else None,
        },
        "reports": [json.loads(r.model_dump_json()) for r in ledger.incidents.reports_of(incident_id)],
        "assessments": [json.loads(a.model_dump_json()) for a in ledger.incidents.assessments_of(incident_id)],
        # every column that goes into an entry's MAC, so that a holder of the audit key can recompute it
        "entries": [
            {
                "seq": e.seq,
                "key": e.key,
                "at": e.at,
                "incident_id": e.incident_id,
                "kind": e.kind,
                "actor": e.actor,
                "data": e.data,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "version": e.version,
            }
            for e in entries
        ],
    }
    files = {
        "timeline.json": json.dumps(timeline, indent=2, default=str) + "\n",
        "checkpoints.json": json.dumps(_anchors(audit, entries, checkpoints or []), indent=2) + "\n",
    }
    receipts = []
    if progress is not None:
        progress.total = len(notices)
    for n in progress.over(notices) if progress is not None else notices:
        if not NOTICE_ID_RE.fullmatch(n.notice_id):
            raise ValueError(f"the ledger holds a notice id that is no notice id: {n.notice_id!r}")
        rendered = ledger.delivery.rendered(n.notice_id)
        if rendered is not None:
            files[f"notices/{n.notice_id}.txt"] = rendered
        approval = ledger.release.approval(n.notice_id)
        # who released (a held notice) or rejected (an authority report) it, when and why
        receipts.append({**n.__dict__, "approval": approval, "decision": ledger.release.decision(n.notice_id)})
    files["receipts.json"] = json.dumps(receipts, indent=2, default=str) + "\n"
    return files


def _anchors(audit: Any, entries: list[Any], checkpoints: list[Any]) -> dict[str, Any]:
    """The checkpoints that anchor the incident's entries, and the links (position, previous MAC, MAC) from its
    first entry to the first checkpoint after its last: with the audit key, a reader recomputes each entry's MAC
    and follows the links to a head that was published when it was written."""
    from runtime.checkpoints import as_json

    ordered = sorted(checkpoints, key=lambda c: c.seq)
    if not entries:
        return {"checkpoints": as_json(ordered[-1:]), "links": []}
    first, last = entries[0].seq, entries[-1].seq
    covering = next((c for c in ordered if c.seq >= last), None)
    relevant = [c for c in (covering, ordered[-1] if ordered else None) if c is not None]
    relevant = list({c.seq: c for c in relevant}.values())
    until = covering.seq if covering else last
    links = [
        {"seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash} for e in audit.entries() if first <= e.seq <= until
    ]
    return {
        "checkpoints": as_json(relevant),
        "covered": covering is not None,
        "links": links,
    }


def _export(ledger: Any, audit: Any, incident_id: str, out: Path, checkpoints: list[Any] | None = None) -> int:
    try:
        with Progress(f"exporting the notices of {incident_id}") as progress:
            files = evidence(ledger, audit, incident_id, checkpoints, progress)
    except ValueError as exc:
        print(f"breachwire audit: {exc}", file=sys.stderr)
        return 1
    if files is None:
        print(f"breachwire audit: no incident {incident_id} in the ledger", file=sys.stderr)
        return 1
    root = out.resolve()
    targets = {name: (root / name).resolve() for name in files}
    outside = [name for name, target in targets.items() if not target.is_relative_to(root)]
    if outside:  # nothing is written when any file would land outside DIR
        print(f"breachwire audit: {outside[0]!r} would be written outside {out}; nothing written", file=sys.stderr)
        return 1
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[name], encoding="utf-8")
    notices = len(json.loads(files["receipts.json"]))
    print(f"evidence for {incident_id} in {out}: timeline.json, receipts.json, checkpoints.json, {notices} notices")
    return 0


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("audit", help="the audit trail: verify the MAC chain, export an incident's evidence")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    v = actions.add_parser(
        "verify", help="check that no entry was changed, removed or reordered, nor cut from the end (checkpoints)"
    )
    v.add_argument("--kafka", action="store_true", help="also compare with the checkpoints on the audit topic")
    a = actions.add_parser("export", help="write timeline, checkpoints, rendered notices and receipts to DIR")
    a.add_argument("incident_id")
    a.add_argument("dir")
    p.set_defaults(func=cmd_audit)
