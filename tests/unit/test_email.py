"""The email a notice becomes: what a mail reader parses out of the bytes sent for ``build_message``'s message,
to a server that takes 8bit and to one that does not."""

import email
import email.policy
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message

from consumers.notify.email import build_message, message_id
from consumers.notify.render import Rendered

TEXT = "Dobrý deň,\n\n  indented line, trailing space \n.a line starting with a dot\n" + "long " * 40 + "\nend"
HTML = '<p class="x">Únik údajov &amp; a = sign</p>\r\n<p>second</p>'
SERVERS = pytest.mark.parametrize("eight_bit", [True, False], ids=["8bit", "7bit"])


def rendered(subject: str = "[Notice] Únik údajov u Linode", text: str = TEXT, html: str = HTML) -> Rendered:
    return Rendered("sk", {"subject": subject, "body.txt": text, "body.html": html})


def wire(message: EmailMessage, eight_bit: bool = True) -> bytes:
    """The bytes aiosmtplib sends for it, to a server that announces 8BITMIME or to one that does not."""
    return flatten_message(message, cte_type="8bit" if eight_bit else "7bit")


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_message_is_text_and_html_alternatives_with_its_headers() -> None:
    message = parse(wire(build_message("breachwire <n@example.org>", "dpo@example.com", "ntc_abc", rendered())))

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == "breachwire <n@example.org>"
    assert message["To"] == "dpo@example.com"
    assert message["Subject"] == "[Notice] Únik údajov u Linode"
    assert message["Message-ID"] == "<ntc_abc@breachwire.notices>"
    assert message["Content-Language"] == "sk"
    assert message["Date"].datetime is not None
    assert not message.defects and not any(p.defects for p in message.iter_parts())


def test_the_message_id_is_the_notices_whoever_it_goes_to_and_whenever() -> None:
    first = build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered())
    again = build_message("n@example.org", "other@example.com", "ntc_abc", rendered(subject="[Reminder] x"))
    other = build_message("n@example.org", "dpo@example.com", "ntc_abd", rendered())

    assert first["Message-ID"] == again["Message-ID"] == message_id("ntc_abc") == "<ntc_abc@breachwire.notices>"
    assert other["Message-ID"] != first["Message-ID"]


@SERVERS
def test_the_bodies_come_back_exactly_with_crlf_line_ends_on_the_wire(eight_bit: bool) -> None:
    raw = wire(build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered()), eight_bit)
    message = parse(raw)

    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    # (a parser keeps the CRLF of the wire)
    assert text.get_content().replace("\r\n", "\n") == TEXT + "\n"
    assert html.get_content().replace("\r\n", "\n") == HTML.replace("\r\n", "\n") + "\n"
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare LF (nor CR) anywhere
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert raw.isascii() or eight_bit


def test_for_a_server_that_takes_8bit_short_lines_go_unencoded() -> None:
    html = "<p>Únik údajov</p>"
    raw = wire(build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(html=html)))

    assert parse(raw).get_body(("html",))["Content-Transfer-Encoding"] == "8bit"
    assert html.encode() in raw  # as written, not =C3=9A


@pytest.mark.parametrize("text", ["one\ntwo", "one\ntwo\n", "one\n\n", "one\r\ntwo\r\n", "one\rtwo\n", "ľ\n", ""])
@SERVERS
def test_a_bodys_lines_end_in_crlf_however_its_template_ended_them(text: str, eight_bit: bool) -> None:
    raw = wire(build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(text=text)), eight_bit)
    body = parse(raw).get_body(("plain",))

    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "\n".join(text.splitlines()) + "\n"
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare LF (nor CR) anywhere


@SERVERS
def test_a_line_longer_than_smtp_allows_is_encoded_and_comes_back_exactly(eight_bit: bool) -> None:
    html = "<p>" + "á" * 500 + "</p>"  # one line of 1,007 octets: over SMTP's 998
    raw = wire(build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(html=html)), eight_bit)
    part = parse(raw).get_body(("html",))

    assert part is not None
    assert part.get_content().replace("\r\n", "\n") == html + "\n"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


@pytest.mark.parametrize(
    "subject",
    [
        " ".join(["Porušenie ochrany osobných údajov"] * 6),
        " ".join(["[Follow-up notice] Personal data breach at Linode, LLC (EU location)"] * 3),
        "x" * 100,
    ],
)
def test_a_long_subject_is_folded_and_comes_back_whole(subject: str) -> None:
    raw = wire(build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(subject=subject)))

    assert parse(raw)["Subject"] == subject
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_a_non_ascii_display_name_is_encoded() -> None:
    raw = wire(build_message("Služba <n@example.org>", "Jana Nováková <dpo@example.com>", "ntc_abc", rendered()))

    assert raw.split(b"\r\n\r\n")[0].isascii()
    assert parse(raw)["From"].addresses[0].display_name == "Služba"
    assert parse(raw)["From"].addresses[0].addr_spec == "n@example.org"
    assert parse(raw)["To"].addresses[0].display_name == "Jana Nováková"


@pytest.mark.parametrize(
    ("sender", "to", "subject"),
    [
        ("n@example.org", "dpo@example.com\r\nBcc: x@y", "s"),
        ("n@example.org\nBcc: x@y", "dpo@example.com", "s"),
        ("=?utf-8?q?N=0D=0ABcc:_x@y?= <n@example.org>", "dpo@example.com", "s"),
        # (A subject's raw line breaks are gone already: ``Rendered.subject`` is one line.) A line break encoded
        # as RFC 2047 words, which the email package would decode and write out as it is:
        ("n@example.org", "dpo@example.com", "=?utf-8?q?s=0D=0ABcc:_x@y?="),
        ("n@example.org", "dpo@example.com", "Notice =?utf-8?b?DQpCY2M6IHhAeQ==?= here"),
    ],
)
def test_a_header_that_would_break_the_message_is_refused(sender: str, to: str, subject: str) -> None:
    with pytest.raises(ValueError):
        build_message(sender, to, "ntc_abc", rendered(subject=subject))
