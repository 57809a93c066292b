"""``breachwire demo``: the main job end to end on the embedded defaults.

A local broker (reused if one runs), the stack as child processes, a local SMTP server and webhook receiver;
then a subprocessor's signed report goes in and the demo waits until every expected notice has arrived,
prints what happened, and stops what it started.
"""

import json
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr

from breachwire.dev import broker
from breachwire.dev.sinks import SmtpSink, WebhookSink
from breachwire.dev.twilio import TwilioSink
from breachwire.stack import Stack, wait_for_http
from consumers.assess.assessment import Assessor
from consumers.assess.consumer import Assess
from consumers.assess.impact import affected_customers
from consumers.assess.release import load_release_policy
from consumers.assess.rules import RuleBook, load_rules
from consumers.notify.webhook import sign_headers
from runtime.datamap import DataMap, load_datamap
from runtime.kafka import ensure_topics
from runtime.logging import configure
from runtime.notice_signing import NoticeSigner
from runtime.settings import Settings, settings_env
from runtime.store import Ledger
from runtime.store.delivery import NoticeRow
from runtime.topics import topics_for
from schemas import Contact, IncidentReported, NoticeRequested, Report, ReportStatus, Source, incident_id
from schemas.common import Message

WEBHOOK_PORT = 8765  # the example data map's webhook URLs point here
DEMO_TWILIO_SID = "AC" + "d3m0" * 8
DEMO_TWILIO_TOKEN = "demo-twilio-auth-token"  # noqa: S105 - the local stand-in's, not a secret


@dataclass(frozen=True)
class Scenario:
    subprocessor_id: str
    report: Report
    show_clocks: bool = False


def linode_eu_breach(now: datetime) -> Scenario:
    return Scenario(
        "linode-eu",
        Report(
            reference=f"LIN-EU-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}",
            status=ReportStatus.CONFIRMED,
            title="Linode EU: confirmed breach, contact details and chat transcripts",
            description=(
                "An attacker used a leaked API token to snapshot two storage volumes of the EU cluster. "
                "The volumes held customer contact details and chat transcripts."
            ),
            aware_at=now - timedelta(minutes=40),
            occurred_from=now - timedelta(hours=6),
            occurred_until=now - timedelta(hours=1),
            regions=["eu"],
            data_categories=["contact_details", "chat_transcripts"],
            approx_data_subjects=120_000,
            approx_records=2_400_000,
            likely_consequences="Phishing aimed at the people named in the transcripts; exposure of what they wrote.",
            measures_taken="The token was revoked, the snapshots deleted, and every API token of the account rotated.",
            contact=Contact(name="Linode Security", email="security@linode.example"),
        ),
    )


def twilio_call_center_breach(now: datetime) -> Scenario:
    """A service incident: only the customers using the call center are touched."""
    return Scenario(
        "twilio",
        Report(
            reference=f"TW-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}",
            status=ReportStatus.CONFIRMED,
            title="Twilio: call recordings and call logs exposed",
            description="A misconfigured storage bucket exposed call recordings and call metadata for two hours.",
            aware_at=now - timedelta(minutes=20),
            occurred_from=now - timedelta(hours=5),
            occurred_until=now - timedelta(hours=3),
            features=["call-center"],
            approx_data_subjects=48_000,
            measures_taken="The bucket was made private and its access keys rotated.",
            contact=Contact(name="Twilio Security", email="security@twilio.example"),
        ),
        show_clocks=True,
    )


@dataclass(frozen=True)
class Expected:
    recipient: str
    audience: str
    channel: str


def expected_notices(scenario: Scenario, datamap: DataMap, rules: RuleBook, settings: Settings) -> dict[str, Expected]:
    """notice id → who gets it how, for every notice the report must lead to: the assess consumer's own steps,
    run without Kafka."""
    reported = IncidentReported(
        incident_id=incident_id(scenario.subprocessor_id, scenario.report.reference),
        subprocessor_id=scenario.subprocessor_id,
        source=Source.SUBPROCESSOR,
        delivery_id="demo",
        received_at=datetime.now(UTC),
        report=scenario.report,
    )
    emitted: list[Message] = []
    policy = load_release_policy(settings.release_policy)
    topics = topics_for(settings.kafka)
    signer = NoticeSigner.from_settings(settings.signing)
    Assess(
        datamap, rules, topics, lambda _t, _k, m: emitted.append(m), settings.oncall, policy=policy, signer=signer
    ).assess(reported)
    return {
        m.notice_id: Expected(m.recipient_id, m.audience.value, m.channel.value)
        for m in emitted
        if isinstance(m, NoticeRequested)
    }


def post_report(url: str, secret: str, report: Report) -> httpx.Response:
    body = report.model_dump_json(exclude_none=True).encode()
    headers = {"content-type": "application/json", **sign_headers(secret, f"msg_{uuid.uuid4().hex}", body)}
    return httpx.post(url, content=body, headers=headers, timeout=30.0)


def run_demo(settings: Settings, out_dir: Path, timeout_s: float = 150.0) -> int:
    started = time.monotonic()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    datamap = load_datamap(settings.datamap_dir)
    # The table is the demo's output; the services log to files, this process only its warnings.
    configure(settings.log.model_copy(update={"level": "warning"}), "demo")

    print(f"• Kafka broker at {broker.address(settings.broker)} ", end="", flush=True)
    we_started_broker = broker.start(settings.broker)
    print("(started)" if we_started_broker else "(already running, reused)")
    ensure_topics(settings.kafka, topics_for(settings.kafka).partitions(settings.kafka))

    smtp = SmtpSink(out_dir / "mail").start()
    secrets = {
        f"/hooks/{c.id}": c.webhook_secret.get_secret_value()
        for c in datamap.customers.values()
        if c.webhook_secret is not None
    }
    hooks = WebhookSink(secrets, out_dir / "webhooks", port=WEBHOOK_PORT).start()
    sms = TwilioSink(DEMO_TWILIO_SID, DEMO_TWILIO_TOKEN).start()
    services = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"host": smtp.host, "port": smtp.port}),
            "ledger": settings.ledger.model_copy(update={"url": f"sqlite:///{out_dir / 'ledger.db'}"}),
            "log": settings.log.model_copy(update={"format": "json"}),
            # The demo's webhook receiver runs on this machine: admit loopback, which the target guard refuses.
            "notify": settings.notify.model_copy(update={"allow_targets": ["127.0.0.0/8"], "require_https": False}),
            # SMS go to a local server that speaks Twilio's Messages API.
            "twilio": settings.twilio.model_copy(
                update={
                    "base_url": sms.base_url,
                    "account_sid": DEMO_TWILIO_SID,
                    "auth_token": SecretStr(DEMO_TWILIO_TOKEN),
                    "from_number": "+15005550006",
                }
            ),
        }
    )
    env = settings_env(services)
    stack = Stack(env, log_dir=out_dir / "logs")
    base = f"http://{settings.intake.host}:{settings.intake.port}"
    try:
        print("• starting intake, assess, notify, record, clock and the console", flush=True)
        stack.start()
        wait_for_http(f"{base}/healthz", 60, stack)
        console = f"http://{settings.console.host}:{settings.console.port}"
        wait_for_http(f"{console}/healthz", 60, stack)

        rules = load_rules(settings.rules_dir)
        counts: list[tuple[int, int]] = []
        for make in (linode_eu_breach, twilio_call_center_breach):
            scenario = make(datetime.now(UTC))
            outcome = _run_scenario(scenario, datamap, rules, settings, base, services.ledger.url, timeout_s, stack)
            if outcome is None:
                return 1
            counts.append(outcome)
        delivered, expected_count = sum(d for d, _ in counts), sum(e for _, e in counts)
        print(f"\n{delivered}/{expected_count} expected notices delivered over {len(counts)} reports")
        print(f"Emails received:   {smtp.directory}/")
        print(f"Webhooks received: {hooks.directory}/")
        sms_file = out_dir / "sms.jsonl"
        with sms.lock:
            sms_file.write_text("".join(json.dumps(asdict(m)) + "\n" for m in sms.received), encoding="utf-8")
        print(f"SMS received:      {sms_file}")
        print(f"Ledger:            {out_dir / 'ledger.db'}")
        print(f"Service logs:      {out_dir / 'logs'}/")
        print(f"Demo took {time.monotonic() - started:.1f} s")
        ok = delivered == expected_count
        _open_console(console, services.ledger.url, services, stack, keep=ok and sys.stdin.isatty())
        return 0 if ok else 1
    finally:
        stack.stop()
        sms.stop()
        hooks.stop()
        smtp.stop()
        if we_started_broker:
            broker.stop(settings.broker)


def _open_console(url: str, ledger_url: str, settings: Settings, stack: Stack, keep: bool) -> None:
    """The console's address and a one-time sign-in code for an admin token made for this run; in a terminal,
    the stack keeps serving the console until Ctrl-C."""
    from producers.console.sessions import Sessions
    from producers.oncall.tokens import Role, Tokens

    ledger = Ledger.connect(ledger_url)
    try:
        token = Tokens(ledger).create(f"demo-{uuid.uuid4().hex[:6]}", Role.ADMIN)
        code = Sessions(ledger, settings.console).one_time_code(token)
    finally:
        ledger.close()
    print(f"\nConsole:           {url}/")
    print(f"One-time token:    {code}  (signs in once, as an admin)")
    if not keep:
        return
    print("The console stays up on this demo's ledger; Ctrl-C stops everything.", flush=True)
    try:
        while not stack.exited():
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…")


def _run_scenario(
    scenario: Scenario,
    datamap: DataMap,
    rules: RuleBook,
    settings: Settings,
    base: str,
    ledger_url: str,
    timeout_s: float,
    stack: Stack,
) -> tuple[int, int] | None:
    """Post one signed report and wait for every notice it leads to; (delivered, expected), None if refused."""
    secret = datamap.subprocessors[scenario.subprocessor_id].webhook_secrets[0].get_secret_value()
    expected = expected_notices(scenario, datamap, rules, settings)
    print(f"\n• posting a signed report: {scenario.report.title!r}", flush=True)
    if scenario.show_clocks:
        _print_clocks(scenario, datamap, rules)
    posted_at = datetime.now(UTC)
    response = post_report(f"{base}/v1/subprocessors/{scenario.subprocessor_id}/reports", secret, scenario.report)
    if response.status_code != 202:
        print(f"✗ the intake answered {response.status_code}: {response.text}")
        return None
    incident = response.json()["incident_id"]
    print(f"  accepted as {incident}; waiting for {len(expected)} notices", flush=True)
    rows = _wait_for(expected, incident, ledger_url, timeout_s, stack)
    _print_table(expected, rows, posted_at)
    delivered = sum(1 for nid in expected if nid in rows and rows[nid].state == "delivered")
    by_channel = Counter(e.channel for e in expected.values())
    print(
        f"{delivered}/{len(expected)} notices delivered ("
        + ", ".join(f"{n} {channel}" for channel, n in sorted(by_channel.items()))
        + ")"
    )
    return delivered, len(expected)


def _print_clocks(scenario: Scenario, datamap: DataMap, rules: RuleBook) -> None:
    """Each affected customer's clocks, in its own time zone, as the assessment computes them."""
    subprocessor = datamap.subprocessors[scenario.subprocessor_id]
    assessor = Assessor(rules, scenario.report)
    customers = affected_customers(scenario.report, subprocessor, datamap)
    print(f"  it reaches {len(customers)} customers, the call-center ones only; their clocks:")
    for customer in customers:
        assessment = assessor.assess(customer)
        zone = ZoneInfo(customer.timezone)
        print(f"  {customer.id} ({', '.join(assessment.jurisdiction_ids)}; {customer.timezone})")
        for d in assessment.deadlines:
            due = d.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if d.due_at else "not started"
            required = {True: "", False: " (not required)", None: " (if the facts require it)"}[d.notifiable]
            print(f"      {d.jurisdiction:<9} {d.audience:<14} by {due}{required}")


def _wait_for(
    expected: Mapping[str, Expected], incident: str, ledger_url: str, timeout_s: float, stack: Stack
) -> dict[str, NoticeRow]:
    """The ledger's rows for the incident once every expected notice is delivered there, or the time is up."""
    deadline = time.monotonic() + timeout_s
    ledger = Ledger.connect(ledger_url)
    try:
        while True:
            rows = {row.notice_id: row for row in ledger.delivery.notices(incident)}
            done = sum(1 for nid in expected if nid in rows and rows[nid].state == "delivered")
            if done == len(expected):
                return rows
            if dead := stack.exited():
                print(f"✗ services exited: {dead}")
                return rows
            if time.monotonic() > deadline:
                print(f"✗ only {done}/{len(expected)} delivered within {timeout_s:.0f} s")
                return rows
            time.sleep(0.3)
    finally:
        ledger.close()


def _print_table(expected: Mapping[str, Expected], rows: Mapping[str, NoticeRow], posted_at: datetime) -> None:
    print()
    print(f"{'recipient':<22} {'audience':<10} {'channel':<8} {'status':<10} {'seconds':>7}")
    print(f"{'-' * 22} {'-' * 10} {'-' * 8} {'-' * 10} {'-' * 7}")
    for nid, e in sorted(expected.items(), key=lambda item: (item[1].recipient, item[1].audience, item[1].channel)):
        row = rows.get(nid)
        status = row.state if row else "missing"
        seconds = f"{(row.delivered_at - posted_at).total_seconds():7.2f}" if row and row.delivered_at else "      -"
        print(f"{e.recipient:<22} {e.audience:<10} {e.channel:<8} {status:<10} {seconds}")
