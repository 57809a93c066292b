"""Delivery that keeps its promises, on the real broker, SMTP server, webhook receiver and Twilio-speaking server:
every failing receiver ends with the notice delivered once, or dead (with an on-call alert), as it should."""

import argparse
import asyncio
import base64
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import Stepped, project_rules, read_topic, wait_until

from breachwire.commands import dlq
from breachwire.dev.broker import free_port_run
from breachwire.dev.samples import controller_notices, notice_from_report, sample_report
from breachwire.dev.sinks import Answer, SmtpSink, WebhookSink
from breachwire.dev.twilio import TwilioSink
from consumers.notify.consumer import build
from runtime.datamap import Customer, DataMap, LiveDataMap, MapSource, load_datamap
from runtime.kafka import make_producer, send
from runtime.notice_signing import NoticeSigner
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import Audience, Channel, NoticeDead, NoticeKind, NoticeRequested, NoticeRetry, Release, notice_id

pytestmark = pytest.mark.integration


class Notifier:
    """The notifier of one test, run in this process, with the ledger it writes."""

    def __init__(self, settings: Settings, maps: MapSource | None = None) -> None:
        """``maps``: where the notifier takes its data map from (the map in ``settings.datamap_dir`` as loaded)."""
        self.settings = settings
        self.datamap = load_datamap(settings.datamap_dir)
        self.ledger = Ledger.connect(settings.ledger.url)
        self.consumer = Stepped(build(settings, maps or self.datamap, self.ledger))
        self.topics = topics_for(settings.kafka, settings.notify.retry_delays_s)
        self.signer = NoticeSigner.from_settings(settings.signing)

    def request(self, *notices: NoticeRequested, signed: bool = True) -> None:
        """Put ``notices`` on their topic, signed as assess signs them (``signed=False``: as they are)."""
        producer = make_producer(self.settings.kafka)
        for notice in notices:
            if signed:
                notice = self.signer.sign(notice)
            send(producer, self.topics.requested_for(notice), notice.recipient_id, notice)
        producer.flush(timeout=10)
        producer.close()

    def state(self, notice: NoticeRequested) -> str | None:
        state = self.ledger.delivery.notice_state(notice.notice_id)
        return None if state is None else state.value

    def run_until_settled(self, *notices: NoticeRequested, timeout_s: float = 60) -> None:
        def step() -> bool:
            self.consumer.run_once()
            return all(self.state(n) in ("delivered", "dead") for n in notices)

        wait_until(step, timeout_s, "every notice delivered or dead", step_s=0)

    def close(self) -> None:
        self.consumer.close()
        self.ledger.close()


@pytest.fixture
def notifier(wired_settings: Settings) -> Any:
    n = Notifier(wired_settings)
    yield n
    n.close()


RULES = project_rules()


def customer(datamap: DataMap, customer_id: str = "acme-eu") -> Customer:
    return datamap.customers[customer_id]


def a_notice(datamap: DataMap, channel: Channel, kind: NoticeKind = NoticeKind.FULL, **changes: Any) -> NoticeRequested:
    notice = notice_from_report(
        sample_report(kind), datamap, Audience.CONTROLLER, channel, rules=RULES, kind=kind, customer=customer(datamap)
    )
    return notice.model_copy(update=changes)


def test_a_webhook_to_a_customer_imported_since_the_notifier_started_goes_out_signed_with_its_secret(
    wired_settings: Settings, webhook_sink: WebhookSink
) -> None:
    directory = wired_settings.datamap_dir
    maps = LiveDataMap(directory, load_datamap, 0, load_datamap(directory))
    notifier = Notifier(wired_settings, maps)
    try:
        acme = customer(notifier.datamap)
        fields = json.loads(acme.model_dump_json())
        secret = "whsec_" + base64.b64encode(b"the secret of a customer imported later").decode()
        url = str(acme.webhook_url).replace("/hooks/acme-eu", "/hooks/acme-new")
        fields.update(id="acme-new", name="Acme New GmbH", webhook_url=url, webhook_secret=secret)
        (directory / "customers-new.jsonl").write_text(json.dumps(fields) + "\n")
        webhook_sink.secrets["/hooks/acme-new"] = secret
        assert maps.check()  # the service's thread does this every datamap_reload_s

        new = maps.current().customers["acme-new"]
        notice = notice_from_report(
            sample_report(NoticeKind.FULL),
            maps.current(),
            Audience.CONTROLLER,
            Channel.WEBHOOK,
            rules=RULES,
            customer=new,
        )
        notifier.request(notice)
        notifier.run_until_settled(notice)
        assert notifier.state(notice) == "delivered"
        assert [(h.path, h.webhook_id) for h in webhook_sink.received] == [("/hooks/acme-new", notice.notice_id)]
        assert webhook_sink.rejected == 0  # signed with the new customer's secret
    finally:
        notifier.close()


def test_webhook_answering_500_is_retried_with_the_same_webhook_id_until_delivered(
    notifier: Notifier, webhook_sink: WebhookSink
) -> None:
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(500 if attempt < 3 else 200)
    notice = a_notice(notifier.datamap, Channel.WEBHOOK)
    notifier.request(notice)
    notifier.run_until_settled(notice)

    assert notifier.state(notice) == "delivered"
    assert [h.webhook_id for h in webhook_sink.received] == [notice.notice_id]  # accepted once
    assert webhook_sink.attempts[notice.notice_id] == 3  # every attempt signed, verified, with the same id
    assert webhook_sink.rejected == 0
    assert [a[1] for a in notifier.ledger.delivery.attempts_of(notice.notice_id)] == ["retry", "retry", "delivered"]


def test_controller_notices_go_out_before_customer_alerts_read_with_them(
    notifier: Notifier, webhook_sink: WebhookSink
) -> None:
    """Alerts requested first, controller notices after: the controllers are still told first (legal first)."""
    legal = controller_notices(notifier.datamap, RULES, Channel.WEBHOOK, 30)
    alerts = [
        n.model_copy(
            update={
                "audience": Audience.CUSTOMER,
                "kind": NoticeKind.ALERT,
                "notice_id": notice_id(n.incident_id, n.recipient_id, "customer", "webhook", n.revision),
            }
        )
        for n in legal
    ]
    notifier.request(*alerts)
    notifier.request(*legal)
    notifier.run_until_settled(*legal, *alerts)

    order = [h.webhook_id for h in webhook_sink.received]
    assert sorted(order) == sorted(n.notice_id for n in [*legal, *alerts])  # each once
    last_legal = max(order.index(n.notice_id) for n in legal)
    first_alert = min(order.index(n.notice_id) for n in alerts)
    assert last_legal < first_alert


def test_a_permanent_410_is_final_and_tells_on_call(notifier: Notifier, webhook_sink: WebhookSink) -> None:
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(410)
    notice = a_notice(notifier.datamap, Channel.WEBHOOK)
    notifier.request(notice)
    notifier.run_until_settled(notice)

    assert notifier.state(notice) == "dead"
    assert webhook_sink.attempts[notice.notice_id] == 1  # no retry of a final answer
    [dead] = [NoticeDead.model_validate_json(r.value) for r in read_topic(notifier.settings, notifier.topics.dead, 1)]
    assert dead.notice_id == notice.notice_id and "410" in dead.reason
    requested = [
        NoticeRequested.model_validate_json(r.value)
        for r in read_topic(notifier.settings, notifier.topics.requested, 2)
    ]
    [alert] = [r for r in requested if r.audience is Audience.ONCALL]
    assert alert.address == notifier.settings.oncall.email
    assert alert.references == [notice.notice_id]
    assert notice.notice_id in alert.incident.description


def test_a_receiver_that_keeps_failing_ends_dead_and_dlq_replay_delivers_it(
    notifier: Notifier, webhook_sink: WebhookSink, capsys: pytest.CaptureFixture[str]
) -> None:
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(503)
    notice = a_notice(notifier.datamap, Channel.WEBHOOK)
    notifier.request(notice)
    notifier.run_until_settled(notice)
    assert notifier.state(notice) == "dead"
    max_attempts = len(notifier.settings.notify.retry_delays_s) + 1
    assert webhook_sink.attempts[notice.notice_id] == max_attempts
    assert webhook_sink.received == []

    assert dlq.cmd_list(argparse.Namespace(), notifier.settings) == 0
    assert notice.notice_id in capsys.readouterr().out

    webhook_sink.behaviour = None  # the receiver is fixed
    assert dlq.cmd_replay(argparse.Namespace(notice=notice.notice_id, all=False), notifier.settings) == 0
    notifier.run_until_settled(notice)
    assert notifier.state(notice) == "delivered"
    assert [h.webhook_id for h in webhook_sink.received] == [notice.notice_id]


def test_a_slow_receiver_times_out_and_is_tried_again(wired_settings: Settings, webhook_sink: WebhookSink) -> None:
    settings = wired_settings.model_copy(
        update={"webhook": wired_settings.webhook.model_copy(update={"timeout_s": 0.5})}
    )
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(delay_s=2.0 if attempt == 1 else 0.0)
    notifier = Notifier(settings)
    try:
        notice = a_notice(notifier.datamap, Channel.WEBHOOK)
        notifier.request(notice)
        notifier.run_until_settled(notice)
        assert notifier.state(notice) == "delivered"
        [first, second] = notifier.ledger.delivery.attempts_of(notice.notice_id)
        assert first[1] == "retry" and "timeout" in first[2]
        assert second[1] == "delivered"
        # The slow first answer may still have reached the receiver: then it carries the same webhook-id.
        assert {h.webhook_id for h in webhook_sink.received} == {notice.notice_id}
    finally:
        notifier.close()


def test_a_slow_host_holds_a_batch_no_longer_than_its_budget(
    wired_settings: Settings, webhook_sink: WebhookSink
) -> None:
    # One send at a time to the host, each answered after 0.7 s, and 0.5 s for a batch to start its sends: from
    # the second notice of a batch on, a notice waits on a retry topic instead of holding the partition.
    settings = wired_settings.model_copy(
        update={"notify": wired_settings.notify.model_copy(update={"per_host": 1, "batch_budget_s": 0.5})}
    )
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(delay_s=0.7)
    notifier = Notifier(settings)
    try:
        notices = controller_notices(notifier.datamap, RULES, Channel.WEBHOOK, 6)
        notifier.request(*notices)
        notifier.run_until_settled(*notices)

        waited = [read_topic(settings, t, 1, timeout_s=3) for t in notifier.topics.retries]
        deferred = [NoticeRetry.model_validate_json(r.value) for records in waited for r in records]
        assert deferred and all(r.reason.startswith("not attempted") and r.attempts == 0 for r in deferred)
        for notice in notices:  # a deferral is no attempt: each was delivered on its first
            assert [(a, outcome) for a, outcome, _, _ in notifier.ledger.delivery.attempts_of(notice.notice_id)] == [
                (1, "delivered")
            ]
        assert sorted(h.webhook_id for h in webhook_sink.received) == sorted(n.notice_id for n in notices)
    finally:
        notifier.close()


def test_429_with_retry_after_waits_at_least_that_long(notifier: Notifier, webhook_sink: WebhookSink) -> None:
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(429, {"Retry-After": "2"}) if attempt == 1 else Answer()
    notice = a_notice(notifier.datamap, Channel.WEBHOOK)
    notifier.request(notice)
    notifier.run_until_settled(notice)

    assert notifier.state(notice) == "delivered"
    [record] = read_topic(notifier.settings, notifier.topics.retry(2), 1)  # the 2 s topic, not the 1 s step's
    retry = NoticeRetry.model_validate_json(record.value)
    [first, _] = notifier.ledger.delivery.attempts_of(notice.notice_id)
    assert first[1] == "retry" and "429" in first[2]
    assert (retry.due_at - first[3]).total_seconds() >= 2.0


def test_a_receiver_down_for_a_while_then_back(wired_settings: Settings, datamap: DataMap, tmp_path: Path) -> None:
    secrets = {"/hooks/acme-eu": customer(datamap).webhook_secret.get_secret_value()}  # type: ignore[union-attr]
    with socket.socket() as s:  # a port where nothing listens yet: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notifier = Notifier(wired_settings)
    try:
        notice = a_notice(notifier.datamap, Channel.WEBHOOK, address=f"http://127.0.0.1:{port}/hooks/acme-eu")
        notifier.request(notice)
        wait_until(lambda: notifier.consumer.run_once() >= 0 and notifier.state(notice) == "retrying", 30, "a failure")
        back = WebhookSink(secrets, tmp_path / "back", port=port).start()
        try:
            notifier.run_until_settled(notice)
        finally:
            back.stop()
        assert notifier.state(notice) == "delivered"
        assert [h.webhook_id for h in back.received] == [notice.notice_id]
        assert "connection" in notifier.ledger.delivery.attempts_of(notice.notice_id)[0][2]
    finally:
        notifier.close()


def test_a_follow_up_never_overtakes_a_notice_waiting_for_its_retry(
    notifier: Notifier, webhook_sink: WebhookSink
) -> None:
    first = a_notice(notifier.datamap, Channel.WEBHOOK, NoticeKind.PRELIMINARY)
    follow_up = a_notice(notifier.datamap, Channel.WEBHOOK, NoticeKind.FULL)
    webhook_sink.behaviour = lambda path, wid, attempt: Answer(500 if wid == first.notice_id and attempt == 1 else 200)
    notifier.request(first)
    wait_until(
        lambda: notifier.consumer.run_once() >= 0 and notifier.state(first) == "retrying", 30, "the first to fail"
    )
    notifier.request(follow_up)  # ready long before the first is due again
    notifier.run_until_settled(first, follow_up)

    assert [h.webhook_id for h in webhook_sink.received] == [first.notice_id, follow_up.notice_id]


def test_a_notice_that_comes_while_the_notifier_idles_is_sent_at_once(
    wired_settings: Settings, smtp_sink: SmtpSink
) -> None:
    """The notifier as it runs: a notice is read as it comes, whatever the retry topics are doing. (With the
    topics polled by two consumers in turn on one thread, a notice that came while the idle notifier waited on
    the retry topics sat unread for the rest of that wait: here up to 3 s.)"""
    poll_s = 3.0
    settings = wired_settings.model_copy(
        update={"kafka": wired_settings.kafka.model_copy(update={"poll_timeout_ms": int(poll_s * 1000)})}
    )
    notifier = Notifier(settings)
    notices = controller_notices(notifier.datamap, RULES, Channel.EMAIL, 3)
    stop = threading.Event()
    runner = threading.Thread(target=asyncio.run, args=(notifier.consumer.notifier.run(stop),))
    runner.start()
    sent: dict[str, float] = {}
    try:
        for count, notice in enumerate(notices):
            if count:  # the notifier has idled past a whole poll for fresh notices since the last one went out
                time.sleep(poll_s + 0.5)
                sent[f"{notice.notice_id}@breachwire.notices"] = time.time()
            notifier.request(notice)
            wait_until(lambda n=count + 1: smtp_sink.count == n, 60, "the notice at the SMTP server", step_s=0.02)
    finally:
        stop.set()
        runner.join()
        notifier.ledger.close()

    waited = {m.message_id: round(m.at - sent[m.message_id], 2) for m in smtp_sink.received if m.message_id in sent}
    assert len(waited) == len(notices) - 1
    assert max(waited.values()) < 1.5, waited


def test_email_retries_a_4xx_reply_and_gives_up_on_a_5xx(notifier: Notifier, smtp_sink: SmtpSink) -> None:
    busy = a_notice(notifier.datamap, Channel.EMAIL, NoticeKind.PRELIMINARY)
    refused = a_notice(notifier.datamap, Channel.EMAIL, NoticeKind.FULL, address="nobody@refused.example")

    def behaviour(message_id: str, attempt: int) -> str | None:
        if message_id.startswith(refused.notice_id):
            return "550 5.1.1 No such user"
        return "451 4.3.0 Mailbox busy, try later" if attempt == 1 else None

    smtp_sink.behaviour = behaviour
    notifier.request(busy, refused)
    notifier.run_until_settled(busy, refused)

    assert notifier.state(busy) == "delivered"
    assert notifier.state(refused) == "dead"
    to_customer = [m.message_id for m in smtp_sink.received if m.to != [notifier.settings.oncall.email]]
    assert to_customer == [f"{busy.notice_id}@breachwire.notices"]
    assert "550" in notifier.ledger.delivery.attempts_of(refused.notice_id)[0][2]


def test_sms_goes_through_the_twilio_api_and_retries_a_503(notifier: Notifier, twilio_sink: TwilioSink) -> None:
    twilio_sink.behaviour = lambda to, body, attempt: Answer(503 if attempt == 1 else 201)
    notice = a_notice(notifier.datamap, Channel.SMS)
    notifier.request(notice)
    notifier.run_until_settled(notice)

    assert notifier.state(notice) == "delivered"
    [sms] = twilio_sink.received
    assert sms.to == notice.address and sms.sender == notifier.settings.twilio.from_number
    row = next(r for r in notifier.ledger.delivery.notices() if r.notice_id == notice.notice_id)
    assert row.receipt == sms.sid and row.attempts == 2


def test_sms_to_a_number_twilio_refuses_is_dead(notifier: Notifier, twilio_sink: TwilioSink) -> None:
    twilio_sink.behaviour = lambda to, body, attempt: Answer(400)
    notice = a_notice(notifier.datamap, Channel.SMS)
    notifier.request(notice)
    notifier.run_until_settled(notice)
    assert notifier.state(notice) == "dead"
    assert "Twilio 21211" in notifier.ledger.delivery.attempts_of(notice.notice_id)[0][2]


def test_a_webhook_to_loopback_is_refused_unless_the_allowlist_admits_it(
    wired_settings: Settings, webhook_sink: WebhookSink
) -> None:
    settings = wired_settings.model_copy(
        update={"notify": wired_settings.notify.model_copy(update={"allow_targets": []})}
    )
    notifier = Notifier(settings)
    try:
        notice = a_notice(notifier.datamap, Channel.WEBHOOK)
        notifier.request(notice)
        notifier.run_until_settled(notice)
        assert notifier.state(notice) == "dead"
        assert "refused address 127.0.0.1" in notifier.ledger.delivery.attempts_of(notice.notice_id)[0][2]
        assert webhook_sink.attempts == {}
    finally:
        notifier.close()


FORGERIES: dict[str, dict[str, Any]] = {
    "address changed": {"address": "https://127.0.0.1:1/elsewhere"},
    "approval skipped": {"release": Release.AUTO},
    "no signature": {"signature": ""},
}


@pytest.mark.parametrize(
    ("channel", "forgery"), [(Channel.WEBHOOK, f) for f in FORGERIES] + [(Channel.EMAIL, "address changed")]
)
def test_a_notice_not_signed_as_it_reads_is_never_sent_and_on_call_is_told(
    notifier: Notifier, webhook_sink: WebhookSink, smtp_sink: SmtpSink, channel: Channel, forgery: str
) -> None:
    # Written straight to notices.requested by whoever can write there: a signed notice (one that needs an
    # approval) with a field changed afterwards, or one with no signature at all.
    signed = notifier.signer.sign(a_notice(notifier.datamap, channel, release=Release.APPROVE))
    changes = dict(FORGERIES[forgery])
    if channel is Channel.EMAIL:
        changes["address"] = "attacker@elsewhere.example"
    forged = signed.model_copy(update=changes)
    notifier.request(forged, signed=False)
    notifier.run_until_settled(forged)

    assert notifier.state(forged) == "dead"
    assert webhook_sink.attempts == {} and webhook_sink.received == []
    [dead] = [NoticeDead.model_validate_json(r.value) for r in read_topic(notifier.settings, notifier.topics.dead, 1)]
    assert dead.notice_id == forged.notice_id and "signature does not verify" in dead.reason
    assert dead.request == forged  # kept as it came, for whoever looks into it
    [row] = [d for d in notifier.ledger.delivery.dead_notices() if d.notice_id == forged.notice_id]
    assert row.last_error is not None and "signature does not verify" in row.last_error

    # On-call's alert is itself signed, so it is delivered: the only mail that goes out.
    requested = [
        NoticeRequested.model_validate_json(r.value)
        for r in read_topic(notifier.settings, notifier.topics.requested, 2)
    ]
    [alert] = [r for r in requested if r.audience is Audience.ONCALL]
    assert alert.references == [forged.notice_id] and forged.address in alert.incident.description
    notifier.run_until_settled(alert)
    assert notifier.state(alert) == "delivered"
    assert [(m.message_id, m.to) for m in smtp_sink.received] == [
        (f"{alert.notice_id}@breachwire.notices", [notifier.settings.oncall.email])
    ]


def test_a_forged_copy_of_a_real_notice_leaves_the_real_one_alone(
    notifier: Notifier, webhook_sink: WebhookSink
) -> None:
    real = a_notice(notifier.datamap, Channel.WEBHOOK, release=Release.APPROVE)
    notifier.request(real)
    wait_until(lambda: notifier.consumer.run_once() >= 0 and notifier.state(real) == "awaiting_approval", 30, "held")
    forged = notifier.signer.sign(real).model_copy(update={"release": Release.AUTO})
    notifier.request(forged, signed=False)
    wait_until(lambda: notifier.consumer.run_once() > 0, 30, "the forged copy read")
    [dead] = [NoticeDead.model_validate_json(r.value) for r in read_topic(notifier.settings, notifier.topics.dead, 1)]
    assert dead.request == forged and "signature does not verify" in dead.reason
    assert notifier.state(real) == "awaiting_approval"  # still waits for its approver, not dead
    assert webhook_sink.attempts == {}


def test_dlq_replay_refuses_a_notice_breachwire_never_signed(
    notifier: Notifier, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = a_notice(notifier.datamap, Channel.WEBHOOK)
    notifier.request(forged, signed=False)
    notifier.run_until_settled(forged)
    assert dlq.cmd_replay(argparse.Namespace(notice=forged.notice_id, all=False), notifier.settings) == 1
    assert "not replayed" in capsys.readouterr().err
    assert notifier.state(forged) == "dead"


def test_dlq_replay_with_kafka_out_of_reach_replays_nothing_and_says_so(
    notifier: Notifier, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = a_notice(notifier.datamap, Channel.WEBHOOK)
    notifier.request(dead, signed=False)  # dies at once: its signature does not verify
    notifier.run_until_settled(dead)
    kafka = notifier.settings.kafka.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{free_port_run(1)}", "ack_timeout_s": 2.0}
    )
    away = notifier.settings.model_copy(update={"kafka": kafka})
    assert dlq.cmd_replay(argparse.Namespace(notice=None, all=True), away) == 1
    assert f"nothing replayed: no Kafka broker answers at {kafka.bootstrap_servers}" in capsys.readouterr().err
    assert notifier.state(dead) == "dead"  # still there to replay once Kafka is back
