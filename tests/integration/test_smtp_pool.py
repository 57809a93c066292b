"""The SMTP pool against real aiosmtpd servers: 8bit bodies where the server announces 8BITMIME, quoted-printable
where it does not, and a server that stops taking 8bit still gets every message."""

import asyncio
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from breachwire.dev.sinks import SmtpSink
from consumers.notify.email import SmtpPool
from consumers.notify.render import Rendered
from runtime.settings import SmtpSettings

pytestmark = pytest.mark.integration

TEXT = "Dobrý deň,\n\núnik údajov u Linode.\n.a line starting with a dot"


def send(pool: SmtpPool, n: int) -> None:
    rendered = Rendered("sk", {"subject": f"Oznámenie {n}", "body.txt": TEXT, "body.html": f"<p>Únik {n}</p>"})
    asyncio.run(pool.send("dpo@example.com", f"ntc_{n}", rendered))


def received(sink: SmtpSink) -> list[EmailMessage]:
    messages = []
    for mail in sink.received:
        message = email.message_from_bytes(mail.path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def encodings(message: EmailMessage) -> list[str]:
    return [str(part["Content-Transfer-Encoding"]) for part in message.iter_parts()]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_once_the_server_announces_8bitmime_messages_go_8bit(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "mail").start()
    pool = SmtpPool(SmtpSettings(host=sink.host, port=sink.port), 1)
    try:
        for n in range(3):
            send(pool, n)
    finally:
        pool.close()
        sink.stop()

    first, *later = received(sink)
    assert encodings(first) == ["quoted-printable", "quoted-printable"]  # built before any EHLO was read
    assert [encodings(m) for m in later] == [["8bit", "8bit"]] * 2
    assert [text_of(m) for m in (first, *later)] == [TEXT + "\n"] * 3


def test_a_7bit_server_gets_quoted_printable_and_one_that_stops_taking_8bit_still_gets_every_message(
    tmp_path: Path,
) -> None:
    eight_bit = SmtpSink(tmp_path / "8bit").start()
    port = eight_bit.port
    pool = SmtpPool(SmtpSettings(host=eight_bit.host, port=port), 1)
    try:
        send(pool, 0)
        send(pool, 1)  # 8bit: the pool has seen 8BITMIME
        eight_bit.stop()
        # Another server on the same address, 7-bit only: the pool reconnects, finds no 8BITMIME, and builds the
        # message it had built 8bit again, quoted-printable.
        seven_bit = SmtpSink(tmp_path / "7bit", port=port, eight_bit=False).start()
        try:
            send(pool, 2)
            send(pool, 3)
        finally:
            seven_bit.stop()
    finally:
        pool.close()

    assert [encodings(m) for m in received(eight_bit)][1] == ["8bit", "8bit"]
    after = received(seven_bit)
    assert [m["Message-ID"] for m in after] == ["<ntc_2@breachwire.notices>", "<ntc_3@breachwire.notices>"]
    assert [encodings(m) for m in after] == [["quoted-printable", "quoted-printable"]] * 2
    assert [text_of(m) for m in after] == [TEXT + "\n"] * 2
