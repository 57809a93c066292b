"""``breachwire incident declare|confirm|dismiss|update|resolve|release|approve|reject|show|list`` and
``incident token create``.

Actions need an on-call token (``--token`` or ``BREACHWIRE_TOKEN``) and follow the same roles as the API.
"""

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.settings import Settings


def _fail(message: str) -> int:
    print(f"breachwire incident: {message}", file=sys.stderr)
    return 1


def _read_report(path: str) -> Any:
    from runtime.validation import field_errors
    from schemas import Report

    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return Report.model_validate_json(text)
    except ValidationError as exc:
        lines = [f"{path}: {field or 'body'}: {msg}" for field, msg in field_errors(exc)]
        raise ValueError("\n".join(lines)) from None


def _changes(pairs: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set {pair}: expected FIELD=VALUE")
        try:
            changes[field] = json.loads(value)
        except json.JSONDecodeError:
            changes[field] = value
    return changes


def cmd_incident(args: argparse.Namespace, settings: Settings) -> int:
    from producers.oncall.actions import Conflict, NotFound, OncallActions
    from producers.oncall.tokens import Action, Forbidden, Role, Tokens, Unauthenticated
    from producers.publish import ReportPublisher
    from runtime.audit import AuditLog
    from runtime.datamap import load_datamap
    from runtime.kafka import PublishError, make_producer
    from runtime.ledger import Ledger
    from runtime.topics import topics_for

    ledger = Ledger.connect(settings.ledger.url)
    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    try:
        tokens = Tokens(ledger)
        if args.action == "token":
            token = tokens.create(args.name, Role(args.role))
            print(f"token for {args.name} ({args.role}), shown once; only its hash is kept:\n{token}")
            return 0
        actor = tokens.identify(args.token or os.environ.get("BREACHWIRE_TOKEN"))
        if args.action in ("show", "list"):
            actor.require(Action.READ)
            return _show(ledger, args.incident_id) if args.action == "show" else _list(ledger)
        datamap = load_datamap(settings.datamap_dir)
        actions = OncallActions(ledger, publisher, AuditLog(ledger, settings.audit.key), datamap.vocabulary)
        if args.action == "declare":
            message = actions.declare(actor, args.subprocessor, _read_report(args.file))
        elif args.action == "approve":
            approval = actions.approve(actor, args.notice_id, args.reason)
            print(f"{args.notice_id}: approved by {approval['approved_by']} ({approval['reason']}); released")
            return 0
        elif args.action == "release":
            count = actions.release(actor, args.incident_id, args.audience, args.reason)
            which = f"{args.audience} notice(s)" if args.audience else "notice(s)"
            print(f"{args.incident_id}: {count} held {which} released by {actor.name} ({args.reason})")
            return 0
        elif args.action == "reject":
            actions.reject(actor, args.notice_id, args.reason)
            print(f"{args.notice_id}: rejected by {actor.name} ({args.reason}); it will not be sent")
            return 0
        else:
            message = actions.act(actor, Action(args.action), args.incident_id, args.note, _changes(args.set))
        print(f"{message.incident_id}: {message.revision} accepted")
        return 0
    except (Unauthenticated, Forbidden, NotFound, Conflict, PublishError) as exc:
        return _fail(str(exc))
    except ValidationError as exc:
        from runtime.validation import field_errors

        return _fail("; ".join(f"{field}: {msg}" for field, msg in field_errors(exc)))
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    finally:
        publisher.close()
        ledger.close()


def _left(seconds: int) -> str:
    sign, seconds = ("overdue by " if seconds < 0 else ""), abs(seconds)
    return f"{sign}{seconds // 86400}d {seconds % 86400 // 3600}h {seconds % 3600 // 60}m"


def _show(ledger: Any, incident_id: str) -> int:
    from producers.oncall.views import incident_view

    view = incident_view(ledger, incident_id, datetime.now(UTC))
    if view is None:
        return _fail(f"no incident {incident_id} in the ledger")
    incident = view.incident
    print(f"{incident_id}  {incident.status}  {incident.title}")
    aware = f"{incident.aware_at:%Y-%m-%d %H:%M} UTC"
    print(f"  subprocessor {incident.subprocessor_id}, source {incident.source}, aware {aware}")
    print("\nTimeline")
    for entry in view.timeline:
        print(f"  {entry.at:%Y-%m-%d %H:%M:%S}  {entry.kind:<20} {entry.actor:<28} {entry.detail}")
    print("\nAffected customers by jurisdiction")
    for jurisdiction, customers in view.customers_by_jurisdiction.items():
        print(f"  {jurisdiction:<10} {len(customers):>4}  {', '.join(customers)}")
    print("\nNotices")
    for n in view.notices:
        print(f"  {n.notice_id}  {n.audience:<10} {n.channel:<7} {n.recipient_id:<28} {n.state}")
    print("\nLegal clocks")
    for c in view.clocks:
        due = (
            "not started"
            if c.due_at is None or c.seconds_left is None
            else f"{c.due_at:%Y-%m-%d %H:%M} UTC ({_left(c.seconds_left)})"
        )
        print(f"  {c.customer_id:<24} {c.jurisdiction:<8} {c.audience:<14} {due}  {c.citation}")
    return 0


def _list(ledger: Any) -> int:
    from producers.oncall.views import incident_list

    for row in incident_list(ledger):
        print(f"{row.incident_id}  {row.status:<10} {row.last_reported_at:%Y-%m-%d %H:%M}  {row.title}")
    return 0


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser(
        "incident", help="on-call actions: declare, confirm, dismiss, update, resolve, release, approve, reject, show"
    )
    p.add_argument("--token", help="on-call bearer token (also BREACHWIRE_TOKEN)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("declare", help="declare an incident from a report JSON file ('-': stdin)")
    a.add_argument("--subprocessor", required=True)
    a.add_argument("file")
    for name in ("confirm", "dismiss", "update", "resolve"):
        a = actions.add_parser(name, help=f"{name} an incident")
        a.add_argument("incident_id")
        a.add_argument("--note", default="")
        a.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="change a report field")
    a = actions.add_parser("release", help="release an incident's held notices (all, or one audience's)")
    a.add_argument("incident_id")
    a.add_argument("--audience", choices=["controller", "customer"], help="only this audience's (default: all)")
    a.add_argument("--reason", required=True)
    a = actions.add_parser("approve", help="approve a notice that waits for approval, and release it")
    a.add_argument("notice_id")
    a.add_argument("--reason", required=True)
    a = actions.add_parser("reject", help="reject an authority report that waits for approval: it is never sent")
    a.add_argument("notice_id")
    a.add_argument("--reason", required=True)
    a = actions.add_parser("show", help="timeline, customers by jurisdiction, notices and legal clocks")
    a.add_argument("incident_id")
    actions.add_parser("list", help="every incident, newest first")
    a = actions.add_parser("token", help="create an on-call API token (printed once)")
    a.add_argument("token_action", choices=["create"])
    a.add_argument("--role", required=True, choices=["responder", "approver", "admin"])
    a.add_argument("--name", required=True)
    p.set_defaults(func=cmd_incident)
