"""The email a notice becomes: what a mail reader parses out of ``build_message``'s bytes."""

import email
import email.policy
from email.message import EmailMessage

import pytest

from consumers.notify.email import build_message
from consumers.notify.render import Rendered

TEXT = "Dobrý deň,\n\n  indented line, trailing space \n.a line starting with a dot\n" + "long " * 40 + "\nend"
HTML = '<p class="x">Únik údajov &amp; a = sign</p>\r\n<p>second</p>'


def rendered(subject: str = "[Notice] Únik údajov u Linode", text: str = TEXT, html: str = HTML) -> Rendered:
    return Rendered("sk", {"subject": subject, "body.txt": text, "body.html": html})


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_message_is_text_and_html_alternatives_with_its_headers() -> None:
    raw = build_message("breachwire <n@example.org>", "dpo@example.com", "ntc_abc", rendered())
    message = parse(raw)

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == "breachwire <n@example.org>"
    assert message["To"] == "dpo@example.com"
    assert message["Subject"] == "[Notice] Únik údajov u Linode"
    assert message["Message-ID"] == "<ntc_abc@breachwire.notices>"
    assert message["Content-Language"] == "sk"
    assert message["Date"].datetime is not None
    assert not message.defects and not any(p.defects for p in message.iter_parts())


def test_the_bodies_come_back_exactly_with_crlf_line_ends_on_the_wire() -> None:
    raw = build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered())
    message = parse(raw)

    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    # (a parser keeps the CRLF of the wire)
    assert text.get_content().replace("\r\n", "\n") == TEXT + "\n"
    assert html.get_content().replace("\r\n", "\n") == HTML.replace("\r\n", "\n") + "\n"
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare LF (nor CR) anywhere
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


@pytest.mark.parametrize(
    "subject",
    [
        " ".join(["Porušenie ochrany osobných údajov"] * 6),
        " ".join(["[Follow-up notice] Personal data breach at Linode, LLC (EU location)"] * 3),
        "An =?utf-8?q?encoded-word?= look-alike stays as written",
        "x" * 100,
    ],
)
def test_a_long_or_unusual_subject_is_folded_and_comes_back_whole(subject: str) -> None:
    raw = build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(subject=subject))

    assert parse(raw)["Subject"] == subject
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_a_non_ascii_display_name_is_encoded() -> None:
    raw = build_message("Služba <n@example.org>", "dpo@example.com", "ntc_abc", rendered())

    assert parse(raw)["From"].addresses[0].display_name == "Služba"
    assert parse(raw)["From"].addresses[0].addr_spec == "n@example.org"


@pytest.mark.parametrize(
    ("sender", "to", "subject"),
    [
        ("n@example.org", "dpo@example.com\r\nBcc: x@y", "s"),
        ("n@example.org\nBcc: x@y", "dpo@example.com", "s"),
        ("n@example.org", "dpö@example.com", "s"),
    ],
)
def test_a_header_that_would_break_the_message_is_refused(sender: str, to: str, subject: str) -> None:
    with pytest.raises(ValueError):
        build_message(sender, to, "ntc_abc", rendered(subject=subject))
