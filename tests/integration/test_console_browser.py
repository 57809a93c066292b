"""The console in a real browser (Debian's chromium, headless) against the whole stack on the real broker:
intake, assess, notify, record, clock and console as child processes, a local SMTP server and webhook receiver.

Each test saves screenshots under its own tmp dir (``screens/``)."""

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_browser import needs_chromium, start_chromium
from pydantic import SecretStr
from support import ANY_FREE_PORTS, a_report, wait_until

from breachwire.dev import broker
from breachwire.dev.sinks import SmtpSink, WebhookSink
from breachwire.dev.twilio import TwilioSink
from breachwire.stack import Stack, wait_for_http
from producers.oncall.tokens import Role, Tokens
from producers.publish import ReportPublisher
from runtime import resources
from runtime.datamap import load_datamap
from runtime.kafka import delete_topics, ensure_topics, make_producer
from runtime.settings import Settings, TwilioSettings, load_settings, settings_env
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import ReportStatus, Source

pytestmark = [pytest.mark.integration, pytest.mark.browser, needs_chromium]

EXAMPLES = resources.example_datamap()
ALERTMANAGER_TOKEN = "alertmanager-test-token"
TWILIO_SID = "AC" + "0123456789abcdef" * 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Room:
    settings: Settings
    console: str
    intake: str
    ledger: Ledger
    smtp: SmtpSink
    tokens: dict[str, str]

    def publish(self, subprocessor: str, source: Source, **changes: Any) -> str:
        publisher = ReportPublisher(lambda: make_producer(self.settings.kafka), topics_for(self.settings.kafka), 10)
        try:
            return publisher.publish(subprocessor, source, f"msg_{uuid.uuid4().hex}", a_report(**changes)).incident_id
        finally:
            publisher.close()


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    """The whole stack once for this module's tests (each test makes its own incidents)."""
    base = tmp_path_factory.mktemp("room")
    defaults = load_settings()
    broker.start(defaults.broker)
    smtp = SmtpSink(base / "mail").start()
    examples = load_datamap(EXAMPLES)
    hooks = WebhookSink(
        {
            f"/hooks/{c.id}": c.webhook_secret.get_secret_value()
            for c in examples.customers.values()
            if c.webhook_secret is not None
        },
        base / "webhooks",
    ).start()
    sms = TwilioSink(TWILIO_SID, "token").start()
    datamap_dir = base / "datamap"
    datamap_dir.mkdir()
    (datamap_dir / "subprocessors.toml").write_text((EXAMPLES / "subprocessors.toml").read_text())
    lines = []
    for line in (EXAMPLES / "customers.jsonl").read_text().splitlines():
        customer = json.loads(line)
        if customer["id"] == "acme-eu":
            customer["authority_filing"] = True  # its authority reports are ours to file, with an approval
        lines.append(json.dumps(customer).replace("http://127.0.0.1:8765", hooks.url("")))
    (datamap_dir / "customers.jsonl").write_text("\n".join(lines) + "\n")
    run = uuid.uuid4().hex[:10]
    settings = load_settings(
        kafka={
            "bootstrap_servers": broker.address(defaults.broker),
            "topic_prefix": f"test-{run}.",
            "group_prefix": f"test-{run}",
            "partitions": {"incidents.reported": 1, "notices.requested": 2, "notices.retry": 1},
            "poll_timeout_ms": 200,
        },
        ledger={"url": f"sqlite:///{base / 'ledger.db'}"},
        datamap_dir=datamap_dir,
        state_dir=base / "state",
        log={"format": "json"},
        intake={"port": free_port()},
        console={"port": free_port()},
        metrics=ANY_FREE_PORTS,
        monitors={"alertmanager_token": ALERTMANAGER_TOKEN},
        smtp={"host": smtp.host, "port": smtp.port},
        notify={"retry_delays_s": (1, 2), "allow_targets": ["127.0.0.0/8"], "require_https": False},
        twilio=TwilioSettings(
            base_url=sms.base_url, account_sid=TWILIO_SID, auth_token=SecretStr("token"), from_number="+15550000000"
        ),
    )
    table = topics_for(settings.kafka, settings.notify.retry_delays_s).partitions(settings.kafka)
    ensure_topics(settings.kafka, table)
    ledger = Ledger.connect(settings.ledger.url)
    tokens = Tokens(ledger)
    people = {
        "operator": tokens.create("olga-operator", Role.ADMIN),
        "responder": tokens.create("rudi-responder", Role.RESPONDER),
        "approver": tokens.create("alma-approver", Role.APPROVER),
    }
    stack = Stack(settings_env(settings), log_dir=base / "logs")
    stack.start()
    console = f"http://{settings.console.host}:{settings.console.port}"
    intake = f"http://{settings.intake.host}:{settings.intake.port}"
    try:
        wait_for_http(f"{intake}/healthz", 90, stack)
        wait_for_http(f"{console}/healthz", 90, stack)
        yield Room(settings, console, intake, ledger, smtp, people)
    finally:
        stack.stop()
        ledger.close()
        sms.stop()
        hooks.stop()
        smtp.stop()
        delete_topics(settings.kafka, list(table))


class Browser:
    def __init__(self, driver: Any, base: str, screens: Path) -> None:
        self.driver, self.base, self.screens = driver, base, screens
        self._shots = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def shot(self, name: str) -> Path:
        self._shots += 1
        path = self.screens / f"{self._shots:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def sign_in(self, token: str, then: str = "/") -> None:
        from selenium.webdriver.common.by import By

        self.open(f"/sign-in?next={then}")
        field = self.driver.find_element(By.ID, "token")
        field.send_keys(token)
        self.shot("sign-in")
        self.driver.find_element(By.CSS_SELECTOR, "form[action='/sign-in'] button").click()
        wait_until(lambda: "/sign-in" not in self.driver.current_url, 10, "signed in")

    def heading(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "h1").text)

    def buttons(self, text: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return [b for b in self.driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == text]

    def csrf(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value"))

    def forge_post(self, action: str, fields: dict[str, str]) -> None:
        """A form this page never offered, posted by the browser as a forger's page script would."""
        self.driver.execute_script(
            """
            const form = document.createElement('form');
            form.method = 'post'; form.action = arguments[0];
            for (const [name, value] of Object.entries(arguments[1])) {
              const input = document.createElement('input');
              input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form); form.submit();
            """,
            action,
            fields,
        )
        time.sleep(0.5)

    def cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self.driver.get_cookies()}


@pytest.fixture
def browser(room: Room, tmp_path: Path) -> Iterator[Browser]:
    screens = tmp_path / "screens"
    screens.mkdir()
    driver: Any = start_chromium(tmp_path / "downloads")
    try:
        yield Browser(driver, room.console, screens)
    finally:
        driver.quit()


def wait_for_incident(room: Room, incident: str, notices: int = 0, timeout_s: float = 90) -> None:
    def there() -> bool:
        return (
            room.ledger.incidents.incident(incident) is not None
            and len(room.ledger.delivery.notices(incident)) >= notices
        )

    wait_until(there, timeout_s, f"incident {incident} in the ledger with {notices}+ notices")


def test_a_signed_out_user_is_sent_to_sign_in(room: Room, browser: Browser) -> None:
    from selenium.webdriver.common.by import By

    browser.open("/dead-letters")
    assert "/sign-in?next=/dead-letters" in browser.driver.current_url
    assert browser.heading() == "Sign in"
    assert browser.driver.find_element(By.CSS_SELECTOR, "label[for=token]").text == "On-call token or one-time code"
    browser.shot("sent-to-sign-in")
    browser.sign_in(room.tokens["responder"], then="/dead-letters")
    assert browser.driver.current_url.endswith("/dead-letters")
    assert browser.heading() == "Dead letters"
    # signed out again: the session is gone on the server, not only in this browser
    old = browser.cookies()["console_session"]
    browser.buttons("Sign out")[0].click()
    wait_until(lambda: "/sign-in" in browser.driver.current_url, 10, "the sign-in page")
    answer = httpx.get(f"{room.console}/", headers={"cookie": f"console_session={old}"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")
    browser.shot("signed-out")


def test_a_post_without_the_csrf_token_gets_403(room: Room, browser: Browser) -> None:
    incident = room.publish("linode-uk", Source.SUBPROCESSOR, regions=["uk"], status=ReportStatus.SUSPECTED)
    wait_for_incident(room, incident)
    browser.sign_in(room.tokens["responder"])
    browser.open(f"/incidents/{incident}")
    browser.forge_post(f"/incidents/{incident}/confirm", {"note": "no token"})
    assert browser.heading() == "Forbidden"
    browser.shot("no-csrf-403")
    session = browser.cookies()["console_session"]
    answer = httpx.post(
        f"{room.console}/incidents/{incident}/confirm",
        data={"note": "x"},
        headers={"cookie": f"console_session={session}"},
    )
    assert answer.status_code == 403
    # the same POST with the page's token goes through: the 403 was the missing token
    browser.open(f"/incidents/{incident}")
    browser.forge_post(f"/incidents/{incident}/confirm", {"note": "with token", "csrf": browser.csrf()})
    wait_until(lambda: "done=confirm" in browser.driver.current_url, 15, "the confirmation")
    browser.shot("with-csrf-confirmed")


def test_a_responder_cannot_approve_an_authority_report(room: Room, browser: Browser) -> None:
    from selenium.webdriver.common.by import By

    # a confirmed breach reaching acme-eu, whose authority reports we file: they wait for an approver
    incident = room.publish("linode-eu", Source.SUBPROCESSOR, regions=["eu"], status=ReportStatus.CONFIRMED)

    def awaiting() -> list[Any]:
        return [n for n in room.ledger.delivery.notices(incident) if n.state == "awaiting_approval"]

    wait_until(lambda: bool(awaiting()), 120, "an authority report awaiting approval")
    held = awaiting()[0]
    browser.sign_in(room.tokens["responder"])
    browser.open(f"/incidents/{incident}")
    assert browser.buttons("Approve") == []
    assert (
        "An approver decides on this report."
        in browser.driver.find_element(By.ID, "h-actions").find_element(By.XPATH, "..").text
    )
    browser.shot("responder-no-approve")
    browser.forge_post(f"/notices/{held.notice_id}/approve", {"reason": "forged", "csrf": browser.csrf()})
    assert browser.heading() == "Not allowed"
    browser.shot("responder-forged-approve-403")
    session = browser.cookies()["console_session"]
    csrf = re.search(
        r'name="csrf" value="([^"]+)"',
        httpx.get(f"{room.console}/", headers={"cookie": f"console_session={session}"}).text,
    )
    assert csrf is not None
    answer = httpx.post(
        f"{room.console}/notices/{held.notice_id}/approve",
        data={"reason": "forged", "csrf": csrf.group(1)},
        headers={"cookie": f"console_session={session}"},
    )
    assert answer.status_code == 403
    assert room.ledger.release.approval(held.notice_id) is None
    # an approver sees the button, and approving releases the report
    browser.driver.delete_all_cookies()
    browser.sign_in(room.tokens["approver"])
    browser.open(f"/incidents/{incident}")
    assert browser.buttons("Approve")
    browser.driver.find_element(By.ID, f"approve-{held.notice_id}").send_keys("Facts checked with Linode")
    browser.shot("approver-approve")
    browser.buttons("Approve")[0].click()
    wait_until(lambda: room.ledger.release.approval(held.notice_id) is not None, 20, "the approval")
    assert room.ledger.release.approval(held.notice_id)["approved_by"] == "alma-approver"  # type: ignore[index]


def test_without_javascript_at_320_px_a_responder_confirms_by_keyboard(room: Room, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    incident = room.publish("linode-sg", Source.SUBPROCESSOR, regions=["sg"], status=ReportStatus.SUSPECTED)
    wait_for_incident(room, incident)
    screens = tmp_path / "screens"
    screens.mkdir()
    driver: Any = start_chromium(tmp_path / "downloads", javascript=False, width=320)
    try:
        browser = Browser(driver, room.console, screens)
        browser.open("/sign-in")
        driver.find_element(By.ID, "token").send_keys(room.tokens["responder"], Keys.ENTER)
        wait_until(lambda: "/sign-in" not in driver.current_url, 10, "signed in")
        browser.open(f"/incidents/{incident}")
        width = driver.execute_script("return document.documentElement.clientWidth")
        assert width <= 320
        # nothing wider than the screen: wide tables scroll inside their own box
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        browser.shot("incident-320px")
        # the skip link comes first; then the keyboard reaches the confirm form and submits it
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        assert driver.switch_to.active_element.text == "Skip to content"
        note = driver.find_element(By.ID, "note-confirm")
        note.send_keys("Confirmed on the phone with Linode SG")
        note.send_keys(Keys.TAB)
        assert driver.switch_to.active_element.text == "Confirm"
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait_until(lambda: "done=confirm" in driver.current_url, 15, "the confirmation")
        browser.shot("confirmed-without-javascript")
        wait_until(
            lambda: (room.ledger.incidents.incident(incident) or {}).get("status") == "confirmed",
            60,
            "the confirmed report",
        )
    finally:
        driver.quit()


def test_a_monitor_alert_makes_an_incident_and_no_external_notice(room: Room, browser: Browser) -> None:
    from selenium.webdriver.common.by import By

    fingerprint = uuid.uuid4().hex[:12]
    alert = {
        "status": "firing",
        "labels": {"alertname": "BucketPublic", "subprocessor": "linode-eu", "region": "eu"},
        "annotations": {"summary": f"Backup bucket readable by anyone {fingerprint}", "description": "ACL changed"},
        "startsAt": "2026-11-28T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }
    body = {
        "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "bw",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "alerts": [alert],
    }  # fmt: skip
    answer = httpx.post(
        f"{room.intake}/v1/monitors/alertmanager", json=body, headers={"authorization": f"Bearer {ALERTMANAGER_TOKEN}"}
    )
    assert answer.status_code == 202, answer.text
    incident = answer.json()["incidents"][0]["incident_id"]
    wait_until(lambda: room.ledger.incidents.incident(incident) is not None, 60, "the monitor's incident")
    browser.sign_in(room.tokens["responder"])
    browser.open("/?status=suspected")
    link = browser.driver.find_element(By.LINK_TEXT, f"Backup bucket readable by anyone {fingerprint}")
    browser.shot("monitor-incident-listed")
    link.click()
    assert "monitor" in browser.driver.find_element(By.CLASS_NAME, "facts").text
    time.sleep(5)  # what assess and notify would do with it, they have done by now
    external = [n for n in room.ledger.delivery.notices(incident) if n.audience != "oncall"]
    assert [n for n in external if n.state == "delivered"] == []
    assert [m for m in room.smtp.received if fingerprint in m.subject and "oncall" not in " ".join(m.to)] == []
    browser.shot("monitor-incident")


def test_an_operator_previews_and_releases_held_controller_notices(room: Room, browser: Browser) -> None:
    from selenium.webdriver.common.by import By

    datamap = load_datamap(room.settings.datamap_dir)
    slovak = datamap.customers["bratislava-books"]
    incident = room.publish("linode-eu", Source.SUBPROCESSOR, regions=["eu"], status=ReportStatus.SUSPECTED)

    def held_controller() -> list[Any]:
        return [n for n in room.ledger.delivery.notices(incident) if n.audience == "controller" and n.state == "held"]

    wait_until(lambda: bool(held_controller()), 120, "held controller notices")
    browser.sign_in(room.tokens["operator"])
    browser.open("/?status=suspected")
    row = browser.driver.find_element(By.XPATH, f"//a[@href='/incidents/{incident}']/ancestor::tr")
    assert int(row.find_elements(By.TAG_NAME, "td")[5].text) > 0  # the held count
    browser.shot("incident-list-held")
    row.find_element(By.TAG_NAME, "a").click()
    browser.shot("incident-held")
    # the Slovak controller's email, as its recipient will see it
    email = next(n for n in held_controller() if n.recipient_id == slovak.id and n.channel == "email")
    browser.open(f"/notices/{email.notice_id}")
    subject = browser.driver.find_element(By.ID, "subject")
    assert subject.get_attribute("lang") == "sk"
    assert "Podozrenie na porušenie ochrany osobných údajov" in subject.text
    frame = browser.driver.find_element(By.CSS_SELECTOR, "iframe.email")
    assert frame.get_attribute("sandbox") == ""
    browser.driver.switch_to.frame(frame)
    assert slovak.name in browser.driver.find_element(By.TAG_NAME, "body").text
    browser.driver.switch_to.default_content()
    browser.shot("slovak-controller-email")
    # release the controller notices
    browser.open(f"/incidents/{incident}")
    browser.driver.find_element(By.ID, "release-controller-reason").send_keys("Linode confirmed the exposure by phone")
    browser.buttons("Release controller notices")[0].click()
    wait_until(lambda: "done=release" in browser.driver.current_url, 20, "the release")
    browser.shot("released")
    controller = [n.notice_id for n in room.ledger.delivery.notices(incident) if n.audience == "controller"]

    def delivered() -> bool:
        return all(room.ledger.delivery.notice_state(n) == "delivered" for n in controller)

    try:
        wait_until(delivered, 120, "controller notices delivered")
    finally:
        states = {n.notice_id: (n.state, n.last_error) for n in room.ledger.delivery.notices(incident)}
        print({nid: states[nid] for nid in controller if states[nid][0] != "delivered"})
    browser.open(f"/incidents/{incident}?audience=controller&state=delivered")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#notices .state-delivered")
    browser.shot("delivered")
    received = {to for m in room.smtp.received for to in m.to}
    assert str(slovak.privacy_email) in received
