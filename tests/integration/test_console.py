"""The console's pages over HTTP (no browser): sessions, cookies, paging at scale, previews, what if, dead letters
and the evidence pack, on a real ledger and the real broker."""

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from console_data import record_incident
from fastapi.testclient import TestClient
from sqlalchemy import update
from support import a_report, read_topic

from consumers.assess.rules import RuleBook
from producers.console import create_console_app
from producers.oncall.tokens import Role, Tokens
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.store.delivery import DeliveryRecord, NoticeState
from runtime.store.tables import api_tokens
from runtime.topics import topics_for
from schemas import IncidentReported, NoticeRequested, ReportStatus

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    store = Ledger.connect(settings.ledger.url)
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, datamap: DataMap, rules: RuleBook, ledger: Ledger, clock: Clock) -> Iterator[object]:
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10)
    yield create_console_app(settings, datamap, ledger, publisher, rules, clock)
    publisher.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def signed_in(app: object, ledger: Ledger, role: Role = Role.ADMIN, base_url: str = "http://testserver") -> TestClient:
    client = TestClient(app, base_url=base_url)  # type: ignore[arg-type]
    token = Tokens(ledger).create(f"{role.value}-person", role)
    page = client.get("/sign-in")
    answer = client.post("/sign-in", data={"token": token, "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(app: object, ledger: Ledger) -> None:
    token = Tokens(ledger).create("olga", Role.RESPONDER)
    for base_url, headers, secure in (
        ("http://testserver", {}, False),
        ("https://testserver", {}, True),
        ("http://testserver", {"x-forwarded-proto": "https"}, True),
    ):
        client = TestClient(app, base_url=base_url, headers=headers)  # type: ignore[arg-type]
        page = client.get("/sign-in")
        # (the client keeps a Secure cookie from an http URL to itself, as a browser behind the proxy would not)
        nonce = page.headers["set-cookie"].split(";")[0]
        answer = client.post(
            "/sign-in",
            data={"token": token, "csrf": csrf_of(page.text)},
            headers={"cookie": nonce},
            follow_redirects=False,
        )
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("console_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert ("Secure" in cookie) is secure, (base_url, headers, cookie)


def test_a_wrong_token_or_a_sign_in_without_csrf_is_refused(app: object, ledger: Ledger) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get("/sign-in")
    wrong = client.post("/sign-in", data={"token": "bw_nope", "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    token = Tokens(ledger).create("olga", Role.RESPONDER)
    assert client.post("/sign-in", data={"token": token}, follow_redirects=False).status_code == 403


def test_failed_sign_ins_are_throttled_with_retry_after(app: object, ledger: Ledger, settings: Settings) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get("/sign-in")
    form = {"token": "bw_guess", "csrf": csrf_of(page.text)}
    for _ in range(settings.oncall.signin_failure_burst):
        assert client.post("/sign-in", data=form, follow_redirects=False).status_code == 401
    throttled = client.post("/sign-in", data=form, follow_redirects=False)
    assert throttled.status_code == 429 and "Too many failed sign-ins from here" in throttled.text
    assert int(throttled.headers["retry-after"]) >= 1
    good = {**form, "token": Tokens(ledger).create("olga", Role.RESPONDER)}
    assert client.post("/sign-in", data=good, follow_redirects=False).status_code == 429  # this address waits


def test_a_revoked_or_expired_token_ends_its_sessions(app: object, ledger: Ledger) -> None:
    for change in ({"revoked_at": datetime.now(UTC)}, {"expires_at": datetime.now(UTC)}):
        client = signed_in(app, ledger, Role.RESPONDER)
        assert client.get("/", follow_redirects=False).status_code == 200
        with ledger.engine.begin() as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.name == "responder-person").values(**change))
        assert client.get("/", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_at_their_end(
    app: object, ledger: Ledger, clock: Clock, settings: Settings
) -> None:
    client = signed_in(app, ledger)
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.now += timedelta(seconds=settings.console.idle_timeout_s + 1)
    gone = client.get("/", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/sign-in?next=/"
    client = signed_in(app, ledger)
    for _ in range(settings.console.session_ttl_s // 1800 - 1):  # used every half hour, never idle
        clock.now += timedelta(seconds=1800)
        assert client.get("/", follow_redirects=False).status_code == 200
    clock.now += timedelta(seconds=1800)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_affected_customers_are_searched_and_paged(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    reported, _ = record_incident(ledger, datamap, rules, settings, "aws", a_report(regions=["eu", "uk", "us", "sg"]))
    client = signed_in(app, ledger)
    customers = {a.customer_id for a in ledger.incidents.assessments_of(reported.incident_id) if a.customer_id}
    page = client.get(f"/incidents/{reported.incident_id}")
    assert page.status_code == 200
    assert f"{len(customers)} customers affected" in page.text
    small = create_console_app(  # five a page: paging is visible with the example map's few customers
        settings.model_copy(update={"console": settings.console.model_copy(update={"page_size": 5})}),
        datamap,
        ledger,
        ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10),
        rules,
    )
    client = signed_in(small, ledger)
    second = client.get(f"/incidents/{reported.incident_id}?page=2")
    assert re.search(r"6–10 of \d+", second.text)
    bratislava = client.get(f"/incidents/{reported.incident_id}?q=bratislava")
    assert "Bratislava Books s.r.o." in bratislava.text and "Acme Retail GmbH" not in bratislava.text
    uk = client.get(f"/incidents/{reported.incident_id}?region=uk").text
    table = uk[uk.index('<table id="customers">') : uk.index("</table>", uk.index('<table id="customers">'))]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>[^<]*</td><td>(\w+)</td>', table)
    assert rows and {region for _, region in rows} == {"uk"}


def test_a_slovak_controller_email_is_previewed_in_slovak(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    _, notices = record_incident(ledger, datamap, rules, settings, "linode-eu", a_report(status=ReportStatus.SUSPECTED))
    email = next(
        n
        for n in notices
        if n.recipient_id == "bratislava-books" and n.audience == "controller" and n.channel == "email"
    )
    client = signed_in(app, ledger, Role.RESPONDER)
    page = client.get(f"/notices/{email.notice_id}")
    assert page.status_code == 200
    assert 'lang="sk"' in page.text
    frame = re.search(r'<iframe class="email"[^>]* sandbox srcdoc="([^"]+)"', page.text)
    assert frame, "the HTML email is shown in a sandboxed frame"
    assert "Bratislava Books" in frame.group(1)
    subject = re.search(r'<span lang="sk" id="subject">([^<]+)</span>', page.text)
    assert subject and "Podozrenie na porušenie ochrany osobných údajov" in subject.group(1)
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_what_if_assesses_and_publishes_nothing(app: object, ledger: Ledger, settings: Settings) -> None:
    client = signed_in(app, ledger, Role.RESPONDER)
    form = client.get("/what-if")
    answer = client.post(
        "/what-if",
        data={
            "csrf": csrf_of(form.text),
            "subprocessor_id": "linode-eu",
            "reference": "WHATIF-1",
            "status": "confirmed",
            "title": "What if the EU volumes leaked",
            "aware_at": "2026-12-01T09:30",
            "regions": "eu",
            "data_categories": "contact_details",
        },
    )
    assert answer.status_code == 200, answer.text
    assert re.search(r"It would reach \d+ customers", answer.text)
    assert "Bratislava Books s.r.o." in answer.text and "eu-gdpr" in answer.text
    bad = client.post("/what-if", data={"csrf": csrf_of(form.text), "subprocessor_id": "linode-eu", "title": "x"})
    assert bad.status_code == 422 and "reference" in bad.text
    assert read_topic(settings, topics_for(settings.kafka).reported, 1, timeout_s=3) == []


def test_a_dead_notice_is_replayed_after_confirmation(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    _, notices = record_incident(ledger, datamap, rules, settings, "linode-eu", a_report())
    dead: NoticeRequested = notices[0]
    ledger.delivery.record_deliveries(
        [DeliveryRecord(dead, dead.recipient_id, NoticeState.DEAD, 7, "550 mailbox unavailable", datetime.now(UTC))]
    )
    client = signed_in(app, ledger, Role.RESPONDER)
    listing = client.get("/dead-letters")
    assert "550 mailbox unavailable" in listing.text
    confirm = client.get(f"/dead-letters/replay?notice={dead.notice_id}")
    assert "Yes, replay" in confirm.text
    assert ledger.delivery.notice_state(dead.notice_id) == "dead"  # nothing happens before the confirmation
    done = client.post("/dead-letters/replay", data={"csrf": csrf_of(confirm.text), "notice": dead.notice_id})
    assert done.status_code == 200 and "1 notice requested again" in done.text
    assert ledger.delivery.notice_state(dead.notice_id) == "requested"
    [record] = read_topic(settings, topics_for(settings.kafka).notices, 1)
    assert NoticeRequested.model_validate_json(record.value).notice_id == dead.notice_id


def test_the_evidence_pack_and_the_audit_page(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    from runtime.audit import AuditLog

    reported, _ = record_incident(ledger, datamap, rules, settings, "linode-eu", a_report())
    AuditLog(ledger).append("t:1", "report.received", actor="test", incident_id=reported.incident_id, data={})
    client = signed_in(app, ledger, Role.RESPONDER)
    pack = client.get(f"/incidents/{reported.incident_id}/evidence.zip")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(pack.content)).namelist()
    assert f"{reported.incident_id}/timeline.json" in names and f"{reported.incident_id}/receipts.json" in names
    assert f"{reported.incident_id}/checkpoints.json" in names
    verdict = AuditLog(ledger).verify()
    audit = client.get("/audit")
    assert "Intact: 1 entries" in audit.text and verdict.head in audit.text

    from runtime.checkpoints import Checkpoint, CheckpointFile

    # a checkpoint saw an entry the ledger no longer has: the tail was cut
    CheckpointFile(settings.audit_checkpoints).append(Checkpoint(seq=2, mac="0" * 64, at=datetime.now(UTC)))
    assert "Broken: entry 2 cut from the end" in client.get("/audit").text


def test_sms_and_webhook_notices_are_previewed(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    _, notices = record_incident(ledger, datamap, rules, settings, "linode-eu", a_report())
    client = signed_in(app, ledger, Role.RESPONDER)
    sms = next(n for n in notices if n.channel == "sms")
    page = client.get(f"/notices/{sms.notice_id}").text
    assert re.search(r"SMS <small>\(\d+ segments?\)</small>", page) and 'id="sms-text"' in page
    hook = next(n for n in notices if n.channel == "webhook" and n.audience == "controller")
    page = client.get(f"/notices/{hook.notice_id}").text
    body = re.search(r'<pre class="body" id="json-body">(.*?)</pre>', page, re.S)
    assert body and f"&#34;{hook.incident_id}&#34;" in body.group(1)


def test_a_declared_incident_is_published_from_the_form(app: object, ledger: Ledger, settings: Settings) -> None:
    client = signed_in(app, ledger, Role.RESPONDER)
    form = client.get("/declare")
    fields = {
        "csrf": csrf_of(form.text),
        "subprocessor_id": "linode-uk",
        "reference": "DECL-1",
        "status": "suspected",
        "title": "Support laptop stolen",
        "aware_at": "2026-12-01T09:30",
        "regions": "uk",
    }
    bad = client.post("/declare", data={**fields, "approx_data_subjects": "many"})
    assert bad.status_code == 422 and "approx_data_subjects: a whole number" in bad.text
    done = client.post("/declare", data=fields, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=declare")
    [record] = read_topic(settings, topics_for(settings.kafka).reported, 1)
    reported = IncidentReported.model_validate_json(record.value)
    assert reported.source == "oncall" and reported.report.title == "Support laptop stolen"
    assert reported.report.aware_at.isoformat() == "2026-12-01T09:30:00+00:00"  # the viewer's zone: UTC here


def test_what_if_refuses_a_region_the_map_does_not_know(app: object, ledger: Ledger) -> None:
    client = signed_in(app, ledger, Role.RESPONDER)
    form = client.get("/what-if")
    fields = {"csrf": csrf_of(form.text), "subprocessor_id": "linode-eu", "reference": "W-2", "status": "suspected"}
    fields |= {"title": "What if", "aware_at": "2026-12-01T09:30", "regions": "atlantis"}
    answer = client.post("/what-if", data=fields)
    assert answer.status_code == 422 and "regions[0]" in answer.text and "atlantis" in answer.text


def test_a_one_time_code_signs_in_once(app: object, ledger: Ledger, settings: Settings, clock: Clock) -> None:
    from producers.console.sessions import Sessions

    token = Tokens(ledger).create("demo", Role.APPROVER)
    sessions = Sessions(ledger, settings.console)
    code = sessions.one_time_code(token, now=clock.now)
    expired = sessions.one_time_code(token, ttl_s=60, now=clock.now - timedelta(minutes=2))
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get("/sign-in")
    first = client.post("/sign-in", data={"token": code, "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert first.status_code == 303
    assert "demo</strong> (approver)" in client.get("/").text
    other = TestClient(app)  # type: ignore[arg-type]
    for used in (code, expired):
        page = other.get("/sign-in")
        again = other.post("/sign-in", data={"token": used, "csrf": csrf_of(page.text)}, follow_redirects=False)
        assert again.status_code == 401 and "the code was used or has expired" in again.text


def test_an_approver_rejects_an_authority_report_a_responder_cannot(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    from schemas import Audience, Release

    reported, notices = record_incident(ledger, datamap, rules, settings, "linode-eu", a_report())
    controller = next(n for n in notices if n.audience == "controller" and n.channel == "email")
    authority = controller.model_copy(
        update={
            "notice_id": "ntc_authority_test",
            "audience": Audience.AUTHORITY,
            "recipient_name": "Supervisory authority",
            "release": Release.APPROVE,
        }
    )
    ledger.delivery.record_requested([authority])
    responder = signed_in(app, ledger, Role.RESPONDER)
    page = responder.get(f"/incidents/{reported.incident_id}")
    assert "An approver decides on this report." in page.text and ">Reject</button>" not in page.text
    forged = responder.post(
        "/notices/ntc_authority_test/reject", data={"csrf": csrf_of(page.text), "reason": "not mine to say"}
    )
    assert forged.status_code == 403
    approver = signed_in(app, ledger, Role.APPROVER)
    page = approver.get(f"/incidents/{reported.incident_id}")
    assert ">Reject</button>" in page.text
    done = approver.post("/notices/ntc_authority_test/reject", data={"csrf": csrf_of(page.text), "reason": "No filing"})
    assert done.status_code == 200 and "Rejected: the notice will not be sent." in done.text
    assert ledger.delivery.notice_state("ntc_authority_test") == "rejected"


def test_a_clock_waiting_for_a_determination_says_so(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    report = a_report(regions=["sg"])
    reported, _ = record_incident(ledger, datamap, rules, settings, "linode-sg", report)
    client = signed_in(app, ledger)
    page = client.get(f"/incidents/{reported.incident_id}").text
    clocks = page[page.index('id="h-clocks"') : page.index('<table id="clocks">')]
    assert "sg-pdpa" in clocks
    assert "latest possible: waits for a determination" in clocks
    # once an update records Singapore's determination, its clocks no longer wait
    determined = report.model_copy(
        update={"sequence": 2, "determinations": {"sg-pdpa": report.aware_at + timedelta(days=1)}}
    )
    record_incident(ledger, datamap, rules, settings, "linode-sg", determined)
    page = client.get(f"/incidents/{reported.incident_id}").text
    assert "waits for a determination" not in page[page.index('id="h-clocks"') :]


def test_a_planted_notice_id_refuses_the_evidence_pack_with_a_clear_page(
    app: object, ledger: Ledger, datamap: DataMap, rules: RuleBook, settings: Settings
) -> None:
    from sqlalchemy import update

    from runtime.store.tables import notices

    reported, requested = record_incident(ledger, datamap, rules, settings, "linode-eu", a_report())
    with ledger.engine.begin() as conn:  # by hand: the message models would refuse such an id
        conn.execute(
            update(notices).where(notices.c.notice_id == requested[0].notice_id).values(notice_id="../../escaped")
        )
    pack = signed_in(app, ledger).get(f"/incidents/{reported.incident_id}/evidence.zip")
    assert pack.status_code == 409
    assert "Evidence pack refused" in pack.text and "zip" not in pack.headers["content-type"]
