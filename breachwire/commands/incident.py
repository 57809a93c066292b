"""``breachwire incident declare|confirm|dismiss|update|resolve|release|approve|reject|show|list`` and
``incident token create|revoke|list``.

Actions need an on-call token, read from ``BREACHWIRE_TOKEN`` or asked for (without echo) on a terminal, never
taken as an argument (arguments show in ``ps`` and shell history); they follow the same roles as the API.
"""

import argparse
import getpass
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
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


def _read_token() -> str | None:
    """BREACHWIRE_TOKEN, else asked for when a person is at a terminal; None when neither."""
    token = os.environ.get("BREACHWIRE_TOKEN", "").strip()
    if token:
        return token
    if sys.stdin.isatty():
        return getpass.getpass("on-call token: ").strip() or None
    return None


def _cli_client() -> str:
    """Whom the CLI's failed sign-ins count against: the local user (it has no address of its own)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a uid with no name (some containers)
        return f"cli:uid-{os.getuid()}"


def _duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or a bare number of days."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhm]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration such as 30d, 12h or 90m")
    unit = {"": "days", "d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


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
    from producers.oncall.signin import SignIn, Throttled
    from producers.oncall.tokens import Action, Forbidden, NotEmpty, Tokens, Unauthenticated
    from producers.publish import ReportPublisher
    from runtime.audit import AuditLog
    from runtime.datamap import load_datamap
    from runtime.kafka import PublishError, make_producer
    from runtime.store import Ledger
    from runtime.topics import topics_for

    ledger = Ledger.connect(settings.ledger.url)
    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    try:
        tokens = Tokens(ledger, timedelta(days=settings.oncall.token_expiry_days), settings.audit.key)
        signin = SignIn(tokens, ledger, settings.oncall)
        client = _cli_client()
        if args.action == "token" and args.verb == "create" and not ledger.tokens.tokens():
            made = _first_token(tokens, args)
            if made is not None:
                return made
        if (token := _read_token()) is None:
            raise Unauthenticated("no token: set BREACHWIRE_TOKEN, or run on a terminal to be asked for it")
        actor = signin.identify(token, client)
        if args.action == "token":
            return _token_command(tokens, actor, args)
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
    except (Unauthenticated, Forbidden, NotFound, Conflict, PublishError, NotEmpty, Throttled) as exc:
        return _fail(str(exc))
    except ValidationError as exc:
        from runtime.validation import field_errors

        return _fail("; ".join(f"{field}: {msg}" for field, msg in field_errors(exc)))
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    finally:
        publisher.close()
        ledger.close()


def _first_token(tokens: Any, args: argparse.Namespace) -> int | None:
    """The first token on an empty ledger, an admin made without a token; None when another was made first."""
    from producers.oncall.tokens import NotEmpty

    if args.role not in (None, "admin"):
        return _fail("the ledger has no token yet: the first one is an admin (--role admin), made without a token")
    try:
        token = tokens.bootstrap(args.name, args.expires_in)
    except NotEmpty:
        return None  # lost a race with another first token: this one needs an admin token like any other
    print(
        f"first token, for {args.name} (admin), made without a token because the ledger had none; "
        "every further token needs an admin token.\n"
        f"Shown once; only its hash is kept:\n{token}"
    )
    return 0


def _token_command(tokens: Any, actor: Any, args: argparse.Namespace) -> int:
    from producers.oncall.tokens import Role

    if args.verb == "create":
        role = Role(args.role or "responder")
        token = tokens.issue(actor, args.name, role, args.expires_in)
        print(f"token for {args.name} ({role.value}), shown once; only its hash is kept:\n{token}")
    elif args.verb == "revoke":
        revoked = tokens.revoke(actor, args.name_or_id)
        if not revoked:
            return _fail(f"no active token named or with id {args.name_or_id}")
        for info in revoked:
            print(f"revoked {info.id} {info.name} ({info.role.value})")
    else:
        print(f"{'id':<12}  {'name':<24} {'role':<10} {'created':<16}  {'expires':<16}  revoked")
        for info in tokens.list(actor):
            expires = f"{info.expires_at:%Y-%m-%d %H:%M}" if info.expires_at else "never"
            revoked = f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "-"
            print(
                f"{info.id:<12}  {info.name:<24} {info.role.value:<10} {info.created_at:%Y-%m-%d %H:%M}  "
                f"{expires:<16}  {revoked}"
            )
    return 0


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
    a = actions.add_parser("token", help="on-call API tokens: create (printed once), revoke, list (admin)")
    kinds = a.add_subparsers(dest="verb", required=True, metavar="create|revoke|list")
    t = kinds.add_parser("create", help="a new token; the first on an empty ledger is an admin made without one")
    t.add_argument("--role", choices=["responder", "approver", "admin"], help="default: responder (first: admin)")
    t.add_argument("--name", required=True)
    t.add_argument("--expires-in", type=_duration, help="e.g. 30d, 12h, 90m (default: oncall.token_expiry_days)")
    t = kinds.add_parser("revoke", help="revoke the active tokens with this name, or the one with this id")
    t.add_argument("name_or_id", metavar="NAME|ID")
    kinds.add_parser("list", help="every token: id, name, role, created, expires, revoked (never the token)")
    p.set_defaults(func=cmd_incident)
