"""``breachwire demo``: the main job end to end on the embedded defaults.

A local broker (reused if one runs), the stack as child processes, a local SMTP server and webhook receiver;
then a subprocessor's signed report goes in and the demo waits until every expected notice has arrived,
prints what happened, and stops what it started.
"""

import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from breachwire.sinks import SmtpSink, WebhookSink
from breachwire.stack import Stack, wait_for_http
from consumers.assess.impact import affected_customers
from consumers.assess.notices import controller_channels
from consumers.notify.webhook import sign_headers
from runtime import broker
from runtime.datamap import DataMap, load_datamap
from runtime.kafka import ensure_topics
from runtime.ledger import Ledger, NoticeRow
from runtime.settings import Settings
from runtime.topics import topics_for
from schemas import Contact, Report, ReportStatus, incident_id, notice_id

WEBHOOK_PORT = 8765  # the example data map's webhook URLs point here


@dataclass(frozen=True)
class Scenario:
    subprocessor_id: str
    report: Report


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


def expected_notices(scenario: Scenario, datamap: DataMap) -> dict[str, tuple[str, str]]:
    """notice id → (recipient, channel) for every notice the report must lead to."""
    subprocessor = datamap.subprocessors[scenario.subprocessor_id]
    incident = incident_id(scenario.subprocessor_id, scenario.report.reference)
    revision = f"{scenario.report.status.value}.{scenario.report.sequence}"
    expected = {}
    for customer in affected_customers(scenario.report, subprocessor, datamap):
        for channel, _address in controller_channels(customer):
            nid = notice_id(incident, customer.id, "controller", channel.value, revision)
            expected[nid] = (customer.id, channel.value)
    return expected


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
    ledger_url = f"sqlite:///{out_dir / 'ledger.db'}"
    env = {
        "BREACHWIRE_SMTP__HOST": smtp.host,
        "BREACHWIRE_SMTP__PORT": str(smtp.port),
        "BREACHWIRE_LEDGER__URL": ledger_url,
        "BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "BREACHWIRE_INTAKE__PORT": str(settings.intake.port),
        "BREACHWIRE_DATAMAP_DIR": str(settings.datamap_dir),
        "BREACHWIRE_LOG__FORMAT": "json",
    }
    stack = Stack(env, log_dir=out_dir / "logs")
    base = f"http://{settings.intake.host}:{settings.intake.port}"
    try:
        print("• starting intake, assess, notify and record", flush=True)
        stack.start()
        wait_for_http(f"{base}/healthz", 60, stack)

        scenario = linode_eu_breach(datetime.now(UTC))
        secret = datamap.subprocessors[scenario.subprocessor_id].webhook_secrets[0].get_secret_value()
        expected = expected_notices(scenario, datamap)
        print(f"• posting a signed report: {scenario.report.title!r}", flush=True)
        posted_at = time.time()
        response = post_report(f"{base}/v1/subprocessors/{scenario.subprocessor_id}/reports", secret, scenario.report)
        if response.status_code != 202:
            print(f"✗ the intake answered {response.status_code}: {response.text}")
            return 1
        incident = response.json()["incident_id"]
        print(f"  accepted as {incident}; waiting for {len(expected)} notices", flush=True)

        arrived_at = _wait_for(expected, smtp, hooks, posted_at, timeout_s, stack)
        ledger = Ledger.connect(ledger_url)
        rows = {row.notice_id: row for row in ledger.notices(incident)}
        ledger.close()
        _print_table(expected, rows, arrived_at, posted_at)
        delivered = sum(1 for nid in expected if nid in arrived_at and rows.get(nid) and rows[nid].state == "delivered")
        print(
            f"\n{delivered}/{len(expected)} notices delivered "
            f"({len([n for n in expected if expected[n][1] == 'email'])} emails, "
            f"{len([n for n in expected if expected[n][1] == 'webhook'])} webhooks)"
        )
        print(f"Emails received:   {smtp.directory}/")
        print(f"Webhooks received: {hooks.directory}/")
        print(f"Ledger:            {out_dir / 'ledger.db'}")
        print(f"Service logs:      {out_dir / 'logs'}/")
        print(f"Demo took {time.monotonic() - started:.1f} s")
        return 0 if delivered == len(expected) else 1
    finally:
        stack.stop()
        hooks.stop()
        smtp.stop()
        if we_started_broker:
            broker.stop(settings.broker)


def _wait_for(
    expected: dict[str, tuple[str, str]],
    smtp: SmtpSink,
    hooks: WebhookSink,
    posted_at: float,
    timeout_s: float,
    stack: Stack,
) -> dict[str, float]:
    """notice id → arrival time (epoch seconds), once all arrived or the time is up."""
    deadline = time.monotonic() + timeout_s
    arrived: dict[str, float] = {}
    while time.monotonic() < deadline:
        with smtp.lock:
            for mail in smtp.received:
                arrived.setdefault(mail.message_id.split("@")[0], mail.at)
        with hooks.lock:
            for hook in hooks.received:
                arrived.setdefault(hook.webhook_id, hook.at)
        if all(nid in arrived for nid in expected):
            time.sleep(1.0)  # the ledger write follows the delivery
            return arrived
        if dead := stack.exited():
            print(f"✗ services exited: {dead}")
            return arrived
        time.sleep(0.2)
    print(f"✗ only {sum(n in arrived for n in expected)}/{len(expected)} arrived within {timeout_s:.0f} s")
    return arrived


def _print_table(
    expected: dict[str, tuple[str, str]], rows: Mapping[str, NoticeRow], arrived: dict[str, float], posted_at: float
) -> None:
    print()
    print(f"{'recipient':<22} {'channel':<8} {'status':<10} {'seconds':>7}")
    print(f"{'-' * 22} {'-' * 8} {'-' * 10} {'-' * 7}")
    for nid, (recipient, channel) in sorted(expected.items(), key=lambda item: item[1]):
        row = rows.get(nid)
        status = row.state if row else "missing"
        seconds = f"{arrived[nid] - posted_at:7.2f}" if nid in arrived else "      -"
        print(f"{recipient:<22} {channel:<8} {status:<10} {seconds}")
