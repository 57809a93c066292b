"""``breachwire audit verify`` and ``breachwire audit export INCIDENT_ID DIR`` (the GDPR Art. 33(5) evidence)."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runtime.settings import Settings


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.audit import AuditLog
    from runtime.ledger import Ledger

    ledger = Ledger.connect(settings.ledger.url)
    try:
        audit = AuditLog(ledger)
        if args.action == "verify":
            verdict = audit.verify()
            if not verdict.ok:
                print(f"audit trail BROKEN at entry {verdict.seq}: {verdict.problem}", file=sys.stderr)
                return 1
            print(f"audit trail intact: {verdict.entries} entries; head {verdict.head}")
            print("keep the head hash elsewhere: it also proves no entry was cut from the end")
            return 0
        return _export(ledger, audit, args.incident_id, Path(args.dir))
    finally:
        ledger.close()


def evidence(ledger: Any, audit: Any, incident_id: str) -> dict[str, str] | None:
    """An incident's evidence pack as files (relative path → text): ``timeline.json``, ``receipts.json`` and each
    notice as it went out under ``notices/``; None when the ledger has no such incident."""
    incident = ledger.incident(incident_id)
    if incident is None:
        return None
    verdict = audit.verify()
    notices = ledger.notices(incident_id)
    timeline = {
        "incident": incident,
        "audit_chain": {
            "intact": verdict.ok,
            "entries": verdict.entries,
            "head": verdict.head,
            "problem": verdict.problem,
        },
        "reports": [json.loads(r.model_dump_json()) for r in ledger.reports_of(incident_id)],
        "assessments": [json.loads(a.model_dump_json()) for a in ledger.assessments_of(incident_id)],
        "entries": [
            {"seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, "data": e.data, "hash": e.hash}
            for e in audit.entries(incident_id)
        ],
    }
    files = {"timeline.json": json.dumps(timeline, indent=2, default=str) + "\n"}
    receipts = []
    for n in notices:
        rendered = ledger.rendered(n.notice_id)
        if rendered is not None:
            files[f"notices/{n.notice_id}.txt"] = rendered
        approval = ledger.approval(n.notice_id)
        # who released (a held notice) or rejected (an authority report) it, when and why
        receipts.append({**n.__dict__, "approval": approval, "decision": ledger.decision(n.notice_id)})
    files["receipts.json"] = json.dumps(receipts, indent=2, default=str) + "\n"
    return files


def _export(ledger: Any, audit: Any, incident_id: str, out: Path) -> int:
    files = evidence(ledger, audit, incident_id)
    if files is None:
        print(f"breachwire audit: no incident {incident_id} in the ledger", file=sys.stderr)
        return 1
    (out / "notices").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    notices = len(json.loads(files["receipts.json"]))
    print(f"evidence for {incident_id} in {out}: timeline.json, receipts.json, {notices} notices")
    return 0


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("audit", help="the audit trail: verify the hash chain, export an incident's evidence")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("verify", help="check that no entry was changed, removed or reordered")
    a = actions.add_parser("export", help="write timeline, rendered notices and delivery receipts to DIR")
    a.add_argument("incident_id")
    a.add_argument("dir")
    p.set_defaults(func=cmd_audit)
