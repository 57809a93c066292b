"""The release policy end to end on the real broker, SMTP server and webhook receiver: what is held stays held
until an on-call responder releases it, a release delivers once, a monitor's suspicion reaches on-call only."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import Stepped, a_report, held_authority_notice, wait_until

from breachwire.dev.sinks import SmtpSink, WebhookSink
from consumers.assess.consumer import build as build_assess
from consumers.notify.consumer import build as build_notify
from consumers.record.consumer import build as build_record
from producers.oncall.tokens import Role, Tokens
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.audit import AuditLog
from runtime.datamap import Customer, load_datamap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.store.delivery import NoticeRow, NoticeState
from runtime.topics import topics_for
from schemas import IncidentReported, Report, ReportStatus, Source, incident_id

pytestmark = pytest.mark.integration


class Stack:
    """The assess, notify and record consumers of one test, stepped by hand, and the on-call API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.datamap = load_datamap(settings.datamap_dir)
        self.ledger = Ledger.connect(settings.ledger.url)
        self.publisher = ReportPublisher(
            lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
        )
        self.notify = Stepped(build_notify(settings, self.datamap, self.ledger))
        self.loops: list[Any] = [
            build_assess(settings, self.datamap),
            self.notify,
            *build_record(settings, self.ledger),
        ]
        self.api = TestClient(build_app(settings, self.datamap, self.ledger, self.publisher))
        self.tokens = {role: Tokens(self.ledger).create(f"{role.value}-person", role) for role in Role}

    def report(self, source: Source, report: Report) -> IncidentReported:
        return self.publisher.publish("linode-eu", source, f"msg_{uuid.uuid4().hex}", report)

    def run_until(self, condition: Any, what: str, timeout_s: float = 60) -> None:
        def step() -> bool:
            for loop in self.loops:
                loop.run_once()
            return bool(condition())

        wait_until(step, timeout_s, what, step_s=0)

    def drain(self) -> None:
        """Step every consumer until none reads anything twice in a row: whatever was published is handled."""
        idle = 0
        while idle < 2:
            read = sum(loop.run_once() for loop in self.loops)
            idle = idle + 1 if read == 0 else 0

    def notices(self, incident: str) -> list[NoticeRow]:
        return self.ledger.delivery.notices(incident)

    def release(self, incident: str, role: Role, **body: Any) -> Any:
        return self.api.post(
            f"/v1/oncall/incidents/{incident}/release",
            json=body,
            headers={"authorization": f"Bearer {self.tokens[role]}"},
        )

    def close(self) -> None:
        self.notify.close()
        self.publisher.close()
        self.ledger.close()


@pytest.fixture
def stack(wired_settings: Settings) -> Iterator[Stack]:
    s = Stack(wired_settings)
    yield s
    s.close()


def eu_customers(stack: Stack) -> list[Customer]:
    return [c for c in stack.datamap.customers.values() if c.region == "eu"]


def states(rows: list[NoticeRow], audience: str) -> set[str]:
    return {r.state for r in rows if r.audience == audience}


def test_a_subprocessors_suspicion_is_held_until_released_and_a_release_sends_once(
    stack: Stack, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    eu = eu_customers(stack)
    controller_notices = len(eu) + sum(1 for c in eu if c.webhook_url)
    customer_notices = sum(len(c.admin_emails) + (1 if c.sms else 0) for c in eu)
    reported = stack.report(Source.SUBPROCESSOR, a_report(status=ReportStatus.SUSPECTED))
    incident = reported.incident_id

    stack.run_until(
        lambda: len(stack.notices(incident)) == controller_notices + customer_notices,
        "every notice recorded",
    )
    stack.drain()
    rows = stack.notices(incident)
    assert states(rows, "controller") == {"held"} and states(rows, "customer") == {"held"}
    assert smtp_sink.received == [] and webhook_sink.received == []  # nothing reached anyone

    # A responder releases the controller notices, and (a retry, say) once more before the notifier runs.
    first = stack.release(incident, Role.RESPONDER, audience="controller", reason="checked with Linode: real")
    assert first.status_code == 200, first.text
    assert first.json() == {"incident_id": incident, "audience": "controller", "released": controller_notices}
    second = stack.release(incident, Role.RESPONDER, audience="controller", reason="again")
    assert second.json()["released"] == 0

    stack.run_until(lambda: states(stack.notices(incident), "controller") == {"delivered"}, "controllers told")
    stack.drain()
    assert sorted(to for m in smtp_sink.received for to in m.to) == sorted(c.privacy_email or "" for c in eu)
    assert sorted(h.path for h in webhook_sink.received) == sorted(f"/hooks/{c.id}" for c in eu if c.webhook_url)
    assert states(stack.notices(incident), "customer") == {"held"}  # another audience: still held

    # Who released them, when and why: per notice in the ledger, per release in the audit chain.
    some = next(r for r in stack.notices(incident) if r.audience == "controller")
    decision = stack.ledger.release.decision(some.notice_id)
    assert decision is not None
    assert (decision["decision"], decision["decided_by"], decision["reason"]) == (
        "released",
        "responder-person",
        "checked with Linode: real",
    )
    released = [e for e in AuditLog(stack.ledger).entries(incident) if e.kind == "notices.released"]
    assert [(e.actor, e.data["audience"], e.data["released"]) for e in released] == [
        ("responder-person", "controller", controller_notices)
    ]
    assert AuditLog(stack.ledger).verify().ok

    # Releasing everything now releases the customer alerts only; the controllers get nothing twice.
    everything = stack.release(incident, Role.APPROVER, reason="admins too")
    assert everything.json()["released"] == customer_notices
    stack.run_until(lambda: states(stack.notices(incident), "customer") == {"delivered"}, "customers told")
    stack.drain()
    emails = len(eu) + sum(len(c.admin_emails) for c in eu)
    assert len(smtp_sink.received) == emails
    assert len(webhook_sink.received) == sum(1 for c in eu if c.webhook_url)


def test_a_confirmed_report_reaches_controllers_at_once_while_the_suspicion_stays_held(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    eu = eu_customers(stack)
    suspected = stack.report(Source.SUBPROCESSOR, a_report(status=ReportStatus.SUSPECTED))
    incident = suspected.incident_id
    stack.run_until(lambda: states(stack.notices(incident), "controller") == {"held"}, "the suspicion held")
    confirmed = a_report(reference=suspected.report.reference, status=ReportStatus.CONFIRMED, sequence=2)
    stack.report(Source.SUBPROCESSOR, confirmed)

    def full_notices() -> list[NoticeRow]:
        return [r for r in stack.notices(incident) if r.audience == "controller" and r.kind == "full"]

    stack.run_until(
        lambda: {r.state for r in full_notices()} == {"delivered"} and len(full_notices()) >= len(eu),
        "the confirmed breach told to every controller",
    )
    preliminary = [r for r in stack.notices(incident) if r.kind == "preliminary"]
    assert preliminary and {r.state for r in preliminary} == {"held"}
    assert {to for m in smtp_sink.received for to in m.to} >= {c.privacy_email for c in eu}


def test_a_monitors_suspicion_reaches_oncall_only(stack: Stack, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    reported = stack.report(Source.MONITOR, a_report(status=ReportStatus.SUSPECTED))
    incident = reported.incident_id
    stack.run_until(lambda: states(stack.notices(incident), "oncall") == {"delivered"}, "on-call alerted")
    stack.drain()
    [alert] = stack.notices(incident)
    assert alert.audience == "oncall"
    assert [m.to for m in smtp_sink.received] == [[stack.settings.oncall.email]]
    assert webhook_sink.received == []
    # Who it would reach is still known (the assessments), and nothing is held for a release.
    assert len({a.customer_id for a in stack.ledger.incidents.assessments_of(incident)}) == len(eu_customers(stack))
    assert stack.release(incident, Role.RESPONDER, reason="nothing to release").json()["released"] == 0


def test_a_rejected_authority_report_is_never_sent_and_an_approved_one_is(stack: Stack, smtp_sink: SmtpSink) -> None:
    rejected = held_authority_notice(stack.ledger, incident_id("linode-eu", f"REJ-{uuid.uuid4().hex[:6]}"))
    approved = held_authority_notice(stack.ledger, incident_id("linode-eu", f"APP-{uuid.uuid4().hex[:6]}"))

    def post(path: str, role: Role, reason: str) -> Any:
        headers = {"authorization": f"Bearer {stack.tokens[role]}"}
        return stack.api.post(f"/v1/oncall/notices/{path}", json={"reason": reason}, headers=headers)

    assert post(f"{rejected.notice_id}/reject", Role.RESPONDER, "no").status_code == 403
    answer = post(f"{rejected.notice_id}/reject", Role.APPROVER, "facts not verified yet")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "notice_id": rejected.notice_id,
        "rejected_by": "approver-person",
        "reason": "facts not verified yet",
    }
    assert post(f"{rejected.notice_id}/approve", Role.ADMIN, "after all").status_code == 409
    assert post(f"{rejected.notice_id}/reject", Role.ADMIN, "twice").status_code == 409
    assert post(f"{approved.notice_id}/approve", Role.APPROVER, "checked with legal").status_code == 200
    assert post(f"{approved.notice_id}/reject", Role.APPROVER, "too late").status_code == 409
    # The rejected report on the topic too (a copy left from before): the notifier still never sends it.
    stack.publisher.publish_notices([rejected])

    stack.run_until(
        lambda: stack.ledger.delivery.notice_state(approved.notice_id) is NoticeState.DELIVERED, "the approved one"
    )
    stack.drain()
    assert [m.to for m in smtp_sink.received] == [[approved.address]]
    assert stack.ledger.delivery.notice_state(rejected.notice_id) is NoticeState.REJECTED
    trail = AuditLog(stack.ledger).entries(rejected.incident_id)
    assert [(e.actor, e.data["reason"]) for e in trail if e.kind == "notice.rejected"] == [
        ("approver-person", "facts not verified yet")
    ]
    assert "notice.delivered" not in {e.kind for e in trail}
