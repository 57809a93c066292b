"""The SMTP pool against real aiosmtpd servers: what arrives (non-ASCII headers and bodies, over 8bit and 7-bit
servers), what is refused before sending, how each kind of failure is classified, and the connections it keeps."""

import asyncio
import contextlib
import email
import email.policy
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from breachwire.dev.sinks import SmtpSink
from consumers.notify.email import SmtpPool, sender
from consumers.notify.errors import DeliveryError, FinalDelivery, RetryableDelivery
from consumers.notify.render import Rendered
from runtime.settings import SmtpSettings

pytestmark = pytest.mark.integration

SENDER = "Služba oznámení <notices@example.org>"
TO = "Jana Nováková <dpo@example.com>"
SUBJECT = "Oznámenie: únik údajov u Linode — 72 h"
TEXT = "Dobrý deň,\n\núnik údajov u Linode.\n.a line starting with a dot\n" + "dlhý riadok " * 20
HTML = "<p>Únik údajov &amp; „úvodzovky“</p>"
T = TypeVar("T")


def rendered(subject: str = SUBJECT) -> Rendered:
    return Rendered("sk", {"subject": subject, "body.txt": TEXT, "body.html": HTML})


def run(pool: SmtpPool, work: Callable[[SmtpPool], Awaitable[T]]) -> T:
    """``work`` on one event loop, as the notifier runs its pool, the pool closed at the end."""

    async def main() -> T:
        try:
            return await work(pool)
        finally:
            await pool.aclose()

    return asyncio.run(main())


async def outcome(pool: SmtpPool, to: str, notice_id: str, message: Rendered) -> str | DeliveryError:
    try:
        return await pool.send(to, notice_id, message)
    except DeliveryError as exc:
        return exc


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def received(sink: SmtpSink) -> list[tuple[bytes, EmailMessage]]:
    return [(mail.path.read_bytes(), parse(mail.path.read_bytes())) for mail in sink.received]


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """An aiosmtpd handler for what ``SmtpSink`` does not play: refused recipients, counting connections."""

    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.refuse = refuse or {}
        self.messages: list[tuple[Any, list[str], bytes]] = []  # (the connection's peer, recipients, content)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((session.peer, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@contextlib.contextmanager
def serving(handler: Server, **options: Any) -> Iterator[SmtpSettings]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield SmtpSettings(host="127.0.0.1", port=controller.port, sender=SENDER)
    finally:
        controller.stop()


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8bit server", "7-bit server"])
def test_non_ascii_subject_names_and_body_come_back_as_sent(tmp_path: Path, eight_bit: bool) -> None:
    sink = SmtpSink(tmp_path / "mail", eight_bit=eight_bit).start()
    pool = SmtpPool(SmtpSettings(host=sink.host, port=sink.port, sender=SENDER), 1)
    try:
        receipt = run(pool, lambda p: p.send(TO, "ntc_1", rendered()))
    finally:
        sink.stop()

    [(raw, message)] = received(sink)
    assert receipt == message["Message-ID"] == "<ntc_1@breachwire.notices>"
    assert sink.received[0].to == ["dpo@example.com"]
    assert (message["From"].addresses[0].display_name, message["From"].addresses[0].addr_spec) == (
        "Služba oznámení",
        "notices@example.org",
    )
    assert message["To"].addresses[0].display_name == "Jana Nováková"
    assert message["Subject"] == SUBJECT
    assert body(message, "plain") == TEXT + "\n"
    assert body(message, "html") == HTML + "\n"
    assert raw.isascii() or eight_bit  # a 7-bit server gets 7-bit bytes only
    assert HTML.encode() in raw or not eight_bit  # to an 8bit one, a part of short lines goes as written


def test_a_notice_sent_again_carries_the_same_message_id(smtp_sink: SmtpSink) -> None:
    pool = SmtpPool(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port), 2)

    async def twice(p: SmtpPool) -> list[str]:
        return [await p.send("dpo@example.com", "ntc_7", rendered()) for _ in range(2)]

    receipts = run(pool, twice)

    assert receipts == ["<ntc_7@breachwire.notices>"] * 2
    assert [message["Message-ID"] for _, message in received(smtp_sink)] == receipts


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("dpo@example.com\r\nBcc: spy@example.net", SUBJECT),
        ("=?utf-8?q?Jana=0D=0ABcc:_spy@example.net?= <dpo@example.com>", SUBJECT),
        ("dpo@example.com", "=?utf-8?q?Notice=0D=0ABcc:_spy@example.net?="),
    ],
)
def test_a_header_injection_is_refused_and_nothing_is_sent(smtp_sink: SmtpSink, to: str, subject: str) -> None:
    pool = SmtpPool(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port), 1)

    result = run(pool, lambda p: outcome(p, to, "ntc_1", rendered(subject)))

    assert isinstance(result, FinalDelivery)
    assert smtp_sink.received == []


def test_replies_to_the_message_are_retryable_when_4xx_and_final_when_5xx(tmp_path: Path) -> None:
    replies = {"ntc_soft": "451 4.3.0 Try again later", "ntc_hard": "554 5.7.1 Message refused"}
    sink = SmtpSink(tmp_path / "mail", behaviour=lambda mid, attempt: replies.get(mid.split("@")[0])).start()
    pool = SmtpPool(SmtpSettings(host=sink.host, port=sink.port), 1)

    async def each(p: SmtpPool) -> list[str | DeliveryError]:
        return [await outcome(p, "dpo@example.com", nid, rendered()) for nid in ("ntc_soft", "ntc_hard", "ntc_ok")]

    try:
        soft, hard, ok = run(pool, each)
    finally:
        sink.stop()

    assert isinstance(soft, RetryableDelivery) and "451" in str(soft)
    assert isinstance(hard, FinalDelivery) and "554" in str(hard)
    assert ok == "<ntc_ok@breachwire.notices>"  # the same connection goes on after a refusal
    assert sink.message_ids() == {"ntc_ok@breachwire.notices"}


def test_refused_recipients_are_retryable_when_4xx_and_final_when_5xx() -> None:
    server = Server(refuse={"busy@example.com": "450 4.2.1 Mailbox busy", "gone@example.com": "550 5.1.1 No such user"})
    with serving(server) as settings:
        pool = SmtpPool(settings, 1)

        async def each(p: SmtpPool) -> list[str | DeliveryError]:
            to = ("busy@example.com", "gone@example.com", "dpo@example.com")
            return [await outcome(p, address, f"ntc_{n}", rendered()) for n, address in enumerate(to)]

        busy, gone, ok = run(pool, each)

    assert isinstance(busy, RetryableDelivery) and "450" in str(busy)
    assert isinstance(gone, FinalDelivery) and "550" in str(gone)
    assert ok == "<ntc_2@breachwire.notices>"
    assert [recipients for _, recipients, _ in server.messages] == [["dpo@example.com"]]


def test_a_server_that_refuses_connections_is_retryable() -> None:
    pool = SmtpPool(SmtpSettings(host="127.0.0.1", port=free_port(), timeout_s=5), 1)

    result = run(pool, lambda p: outcome(p, "dpo@example.com", "ntc_1", rendered()))

    assert isinstance(result, RetryableDelivery)


def test_a_dropped_connection_is_opened_again_and_a_7bit_server_after_an_8bit_one_gets_7bit(tmp_path: Path) -> None:
    eight_bit = SmtpSink(tmp_path / "8bit").start()
    port = eight_bit.port
    pool = SmtpPool(SmtpSettings(host=eight_bit.host, port=port), 1)
    seven_bit: list[SmtpSink] = []

    async def across_a_restart(p: SmtpPool) -> list[str]:
        receipts = [await p.send("dpo@example.com", "ntc_0", rendered())]
        # The server goes away with the pool's connection open; another, 7-bit only, takes its address.
        await asyncio.to_thread(eight_bit.stop)
        seven_bit.append(SmtpSink(tmp_path / "7bit", port=port, eight_bit=False).start())
        receipts += [await p.send("dpo@example.com", f"ntc_{n}", rendered()) for n in (1, 2)]
        return receipts

    try:
        receipts = run(pool, across_a_restart)
    finally:
        for sink in seven_bit:
            sink.stop()

    assert receipts == [f"<ntc_{n}@breachwire.notices>" for n in range(3)]
    after = received(seven_bit[0])
    assert [message["Message-ID"] for _, message in after] == receipts[1:]
    assert all(raw.isascii() for raw, _ in after)
    assert [body(message, "plain") for _, message in after] == [TEXT + "\n"] * 2


def test_the_pool_sends_over_at_most_its_size_of_connections_reused_across_messages() -> None:
    server = Server()
    with serving(server) as settings:
        pool = SmtpPool(settings, 2)

        async def many(p: SmtpPool) -> list[str]:
            return await asyncio.gather(*(p.send("dpo@example.com", f"ntc_{n}", rendered()) for n in range(20)))

        receipts = run(pool, many)

    assert sorted(receipts) == sorted(f"<ntc_{n}@breachwire.notices>" for n in range(20))
    assert len(server.messages) == 20
    assert len({peer for peer, _, _ in server.messages}) == 2


def test_a_non_ascii_mailbox_goes_with_smtputf8_where_the_server_takes_it_and_is_final_where_not() -> None:
    with serving(Server(), enable_SMTPUTF8=False) as plain, serving(Server()) as utf8:
        refused = run(SmtpPool(plain, 1), lambda p: outcome(p, "dpö@example.com", "ntc_1", rendered()))
        taken = run(SmtpPool(utf8, 1), lambda p: outcome(p, "dpö@example.com", "ntc_1", rendered()))

    assert isinstance(refused, FinalDelivery)
    assert taken == "<ntc_1@breachwire.notices>"


def test_the_pool_logs_in_with_the_configured_credentials() -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        valid = isinstance(data, LoginPassword) and (data.login, data.password) == (b"u", b"pw")
        return AuthResult(success=valid, handled=False)  # (not handled: aiosmtpd answers 535 when refused)

    server = Server()
    with serving(server, authenticator=authenticator, auth_require_tls=False) as settings:
        good = settings.model_copy(update={"username": "u", "password": SecretStr("pw")})
        bad = settings.model_copy(update={"username": "u", "password": SecretStr("wrong")})
        sent = run(SmtpPool(good, 1), lambda p: outcome(p, "dpo@example.com", "ntc_1", rendered()))
        refused = run(SmtpPool(bad, 1), lambda p: outcome(p, "dpo@example.com", "ntc_2", rendered()))

    assert sent == "<ntc_1@breachwire.notices>"
    assert isinstance(refused, FinalDelivery) and "535" in str(refused)
    assert len(server.messages) == 1


class Recorder:
    """An aiosmtpd handler keeping each message's whole envelope: sender, ESMTP options, recipients, content."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, envelope.mail_options, envelope.rcpt_tos, envelope.original_content))
        return "250 OK"


PLAIN = Rendered(
    "en",
    {
        "subject": "[Notice] Personal data breach at Linode, LLC (EU location): unauthorised access to a volume",
        "body.txt": "Dear DPO,\n\n.a line starting with a dot\n" + "a long line " * 20 + "\n",
        "body.html": "<p>" + "a long line " * 20 + "</p>\n<p>Únik údajov</p>",
    },
)


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8bit server", "7-bit server"])
def test_after_the_greeting_an_8bit_server_gets_the_fast_bytes_the_same_as_the_stock_message(
    monkeypatch: pytest.MonkeyPatch, eight_bit: bool
) -> None:
    built: list[str] = []
    build = sender.build_message

    def counted(*args: Any) -> EmailMessage:
        built.append(args[2])
        return build(*args)

    monkeypatch.setattr(sender, "build_message", counted)
    server = Recorder()
    with serving(server, decode_data=not eight_bit) as settings:
        pool = SmtpPool(settings.model_copy(update={"sender": "breachwire <notices@example.org>"}), 1)

        async def thrice(p: SmtpPool) -> list[str]:
            return [await p.send("Data Protection Officer <dpo@example.com>", "ntc_1", PLAIN) for _ in range(3)]

        receipts = run(pool, thrice)

    assert receipts == ["<ntc_1@breachwire.notices>"] * 3
    # The first message greets the server (EHLO) through aiosmtplib's send_message; on an 8bit server the others
    # go as fast_message wrote them, without building a message: what arrives is the same, envelope and all.
    assert len(built) == (1 if eight_bit else 3)
    undated = [(s, o, r, re.sub(rb"\r\nDate: [^\r]*", b"", c)) for s, o, r, c in server.messages]
    assert undated == [undated[0]] * 3
    mail_from, options, recipients, content = undated[0]
    assert (mail_from, recipients) == ("notices@example.org", ["dpo@example.com"])
    assert ("BODY=8BITMIME" in options) == eight_bit
    assert parse(content)["Subject"] == PLAIN.subject
    assert body(parse(content), "html") == PLAIN.html + "\n"
