"""``breachwire assess --dry-run REPORT.json [--datamap DIR] [--at TIME]``: who a report reaches, by when.

Runs the assess consumer's own steps on a report without Kafka and prints, as JSON, every affected customer with
its jurisdictions, audiences, notices and legal clocks (due times in UTC and in the customer's time zone).
REPORT.json is an ``incidents.reported`` message, or a bare report with ``--subprocessor ID``.
"""

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from runtime.notice_signing import NoticeSigner
from runtime.settings import Settings
from schemas import Audience

if TYPE_CHECKING:
    from consumers.assess.consumer import Assess
    from consumers.assess.release import ReleasePolicy
    from consumers.assess.rules import RuleBook
    from runtime.datamap import DataMap
    from schemas import IncidentReported
    from schemas.common import Message


def _parse_at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError("give a time zone, e.g. 2026-06-10T09:30:00Z")
    return value


def _problem(where: str, message: str) -> int:
    print(f"breachwire: {where}: {message}", file=sys.stderr)
    return 2


def cmd_assess(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.assess.release import load_release_policy
    from consumers.assess.rules import RulesError, load_rules
    from runtime.datamap import DataMapError, load_datamap
    from runtime.logging import configure
    from runtime.validation import field_errors
    from schemas import IncidentReported, Report, Source, incident_id

    if not args.dry_run:
        return _problem("assess", "only --dry-run is available here; the assess service runs with `run assess`")
    # stdout carries the JSON; logs go to stderr, warnings only.
    configure(settings.log.model_copy(update={"level": "warning"}), "assess-dry-run")
    path = Path(args.report)
    try:
        now = _parse_at(args.at) if args.at else datetime.now(UTC)
    except ValueError as exc:
        return _problem("--at", str(exc))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return _problem(str(path), exc.strerror or str(exc))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _problem(str(path), f"not JSON: {exc}")
    try:
        if isinstance(raw, dict) and "subprocessor_id" in raw:
            reported = IncidentReported.model_validate(raw)
        else:
            if not args.subprocessor:
                return _problem(str(path), "a bare report needs --subprocessor ID (who reports it)")
            report = Report.model_validate(raw)
            reported = IncidentReported(
                incident_id=incident_id(args.subprocessor, report.reference),
                subprocessor_id=args.subprocessor,
                source=Source.ONCALL,
                delivery_id="dry-run",
                received_at=now,
                report=report,
            )
    except ValidationError as exc:
        for field, message in field_errors(exc):
            print(f"breachwire: {path}: {field or '(top level)'}: {message}", file=sys.stderr)
        return 2
    try:
        datamap = load_datamap(Path(args.datamap) if args.datamap else settings.datamap_dir)
        rules = load_rules(settings.rules_dir)
        policy = load_release_policy(settings.release_policy)
    except (DataMapError, RulesError) as exc:
        print(f"breachwire: {exc}", file=sys.stderr)
        return 2
    if reported.subprocessor_id not in datamap.subprocessors:
        where = f"{path}: subprocessor_id" if isinstance(raw, dict) and "subprocessor_id" in raw else "--subprocessor"
        known = ", ".join(sorted(datamap.subprocessors))
        return _problem(where, f"unknown subprocessor {reported.subprocessor_id!r}; the data map has {known}")
    # Refused as the intake refuses it: a name the map does not know is never widened to everything.
    prefix = "report" if isinstance(raw, dict) and "subprocessor_id" in raw else ""
    unknown = datamap.vocabulary.unknown_in(reported.report, prefix)
    if unknown:
        for name in unknown:
            print(f"breachwire: {path}: {name}", file=sys.stderr)
        return 2

    print(json.dumps(dry_run(reported, datamap, rules, settings, now, policy), indent=2, ensure_ascii=False))
    return 0


def offline_assessor(
    datamap: "DataMap",
    rules: "RuleBook",
    settings: Settings,
    emit: "Callable[[str, str, Message], None]",
    clock: Callable[[], datetime],
    policy: "ReleasePolicy | None" = None,
) -> "Assess":
    """The assess consumer's own assessor, handing what it would publish to ``emit`` instead of Kafka: the one
    place the dry run, the console's what-if and previews build it. ``policy`` is the release policy; by default
    the settings' one."""
    from consumers.assess.consumer import Assess
    from consumers.assess.release import load_release_policy
    from runtime.topics import topics_for

    if policy is None:
        policy = load_release_policy(settings.release_policy)
    signer = NoticeSigner.from_settings(settings.signing)
    return Assess(
        datamap, rules, topics_for(settings.kafka), emit, settings.oncall, clock, policy=policy, signer=signer
    )


def dry_run(
    reported: "IncidentReported",
    datamap: "DataMap",
    rules: "RuleBook",
    settings: Settings,
    now: datetime,
    policy: "ReleasePolicy | None" = None,
) -> dict[str, Any]:
    """The assess consumer's own steps on one report, publishing nothing: every affected customer with its
    jurisdictions, audiences, notices and legal clocks (due in UTC and in the customer's zone). ``policy`` is the
    release policy; by default the settings' one."""
    from schemas import IncidentAssessed, NoticeRequested

    emitted: list[Message] = []
    outcome = offline_assessor(
        datamap, rules, settings, lambda _t, _k, m: emitted.append(m), lambda: now, policy
    ).assess(reported)
    notices = [m for m in emitted if isinstance(m, NoticeRequested)]
    assessed = [m for m in emitted if isinstance(m, IncidentAssessed)]
    by_customer: dict[str, list[NoticeRequested]] = {}
    for notice in notices:
        by_customer.setdefault(notice.recipient_id, []).append(notice)

    customers = []
    for assessment in assessed:
        if assessment.no_one_affected:
            continue
        customer = datamap.customers[assessment.customer_id]
        zone = ZoneInfo(customer.timezone)
        customers.append(
            {
                "id": customer.id,
                "name": customer.name,
                "region": customer.region,
                "country": customer.country,
                "state": customer.state,
                "timezone": customer.timezone,
                "data_categories": assessment.data_categories,
                "affected_people": assessment.affected_people,
                "jurisdictions": assessment.jurisdictions,
                "audiences": [a.value for a in assessment.audiences],
                "deadlines": [
                    {
                        "jurisdiction": d.jurisdiction,
                        "audience": d.audience,
                        "obligation": d.obligation,
                        "due_at": d.due_at.astimezone(UTC).isoformat() if d.due_at else None,
                        "due_local": d.due_at.astimezone(zone).isoformat() if d.due_at else None,
                        "hours_left": round((d.due_at - now).total_seconds() / 3600, 1) if d.due_at else None,
                        "notifiable": d.notifiable,
                        "citation": d.citation,
                    }
                    for d in assessment.deadlines
                ],
                "notices": [_notice(n) for n in by_customer.get(customer.id, [])],
            }
        )
    result = {
        "incident_id": reported.incident_id,
        "revision": reported.revision,
        "subprocessor_id": reported.subprocessor_id,
        "aware_at": reported.report.aware_at.astimezone(UTC).isoformat(),
        "assessed_at": now.astimezone(UTC).isoformat(),
        "affected_customers": outcome.customers,
        "notices_requested": outcome.notices,
        "no_one_affected": outcome.customers == 0,
        "oncall_alerts": [_notice(n) for n in notices if n.audience is Audience.ONCALL],
        "customers": customers,
    }
    return result


def _notice(notice: Any) -> dict[str, Any]:
    return {
        "notice_id": notice.notice_id,
        "audience": notice.audience.value,
        "channel": notice.channel.value,
        "kind": notice.kind.value,
        "address": notice.address,
        "release": notice.release.value,
        "references": notice.references,
    }


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("assess", help="who a report reaches and by when, printed as JSON (--dry-run: no Kafka)")
    p.add_argument("report", help="an incidents.reported message, or a bare report with --subprocessor")
    p.add_argument("--dry-run", action="store_true", help="assess without Kafka and print the result")
    p.add_argument("--datamap", help="the data map folder (default: settings.datamap_dir)")
    p.add_argument("--at", help="the assessment time, ISO 8601 with zone (default: now)")
    p.add_argument("--subprocessor", help="who reports a bare report (a subprocessor id of the data map)")
    p.set_defaults(func=cmd_assess)
