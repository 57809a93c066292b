"""Commands about notices: ``notices preview`` renders one, from the sample or from a report file."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.settings import Settings
from schemas import NOTICE_AUDIENCES, Audience, Channel, NoticeKind, Report


class _BadInput(Exception):
    """Something the user gave cannot be used; the message is one line and names what is wrong."""


def _read_report(path: Path) -> Report:
    from runtime.validation import field_errors

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _BadInput(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _BadInput(f"{path}: not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise _BadInput(f"{path}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        shown = "; ".join(f"{field or '(report)'}: {message}" for field, message in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise _BadInput(f"{path}: {shown}{more}") from None


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.dev.samples import notice_from_report, sample_notice
    from consumers.assess.rules import RulesError, load_rules
    from consumers.notify.render import Renderer, sms_segments
    from runtime.datamap import DataMapError, load_datamap

    audience, channel = Audience(args.audience), Channel(args.channel)
    kind = NoticeKind(args.kind) if args.kind else None
    try:
        datamap = load_datamap(settings.datamap_dir)
        rules = load_rules(settings.rules_dir)
        if args.report:
            report = _read_report(Path(args.report))
            notice = notice_from_report(
                report,
                datamap,
                audience,
                channel,
                rules=rules,
                subprocessor_id=args.subprocessor,
                locale=args.locale,
                kind=kind,
            )
        else:
            notice = sample_notice(
                datamap, audience, channel, rules=rules, locale=args.locale, kind=kind, known=not args.unknown
            )
        rendered = Renderer(settings.templates_dir, rules).render(notice)
    except (_BadInput, DataMapError, RulesError, LookupError) as exc:
        message = str(exc).strip('"').replace("\n", "; ")
        print(f"breachwire: {message}", file=sys.stderr)
        return 2
    except Exception as exc:  # a template that cannot render: say which, without a traceback
        print(f"breachwire: cannot render the notice: {exc}", file=sys.stderr)
        return 1

    fell_back = "" if rendered.locale == notice.locale else f" (no {notice.locale} templates: fell back)"
    print(f"notice {notice.notice_id}: {audience.value}/{channel.value}, {notice.kind.value}")
    print(f"to {notice.recipient_name} <{notice.address}>, locale {rendered.locale}{fell_back}, {notice.timezone}")
    for name, text in rendered.parts.items():
        if channel is Channel.SMS:
            sms = rendered.sms
            print(f"\n--- sms ({len(sms)} characters, {sms_segments(sms)} segment(s); first 160 marked |) ---")
            print(f"{sms[:160]}|{sms[160:]}")
            continue
        print(f"\n--- {name} ---")
        print(text.rstrip("\n"))
    return 0


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("notices", help="notices: preview how one renders")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    q = actions.add_parser(
        "preview",
        help="print a rendered notice, every part labelled",
        description="Render one notice from the sample (a Linode EU breach, to the data map's first EU customer) "
        "or from a report file, as a subprocessor would post it.",
    )
    q.add_argument("--audience", required=True, choices=[a.value for a in NOTICE_AUDIENCES])
    q.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    q.add_argument("--locale", help="the recipient's locale (default: the recipient's own); en, fil, sk, ...")
    q.add_argument("--kind", choices=[k.value for k in NoticeKind], help="default: from the report's status")
    q.add_argument("--report", metavar="FILE", help="a report JSON file (schemas.Report) instead of the sample")
    q.add_argument("--subprocessor", default="linode-eu", help="who posted the report file (default linode-eu)")
    q.add_argument("--unknown", action="store_true", help="the sample with every unknown fact left out")
    q.set_defaults(func=cmd_preview)
