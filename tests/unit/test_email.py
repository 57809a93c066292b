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


def test_for_a_server_that_takes_8bit_the_bodies_go_unencoded_and_come_back_exactly() -> None:
    raw = build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(html="<p>plain ASCII</p>"), True)
    message = parse(raw)

    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    assert (text["Content-Transfer-Encoding"], html["Content-Transfer-Encoding"]) == ("8bit", "7bit")
    assert text.get_content().replace("\r\n", "\n") == TEXT + "\n"
    assert html.get_content().replace("\r\n", "\n") == "<p>plain ASCII</p>\n"
    assert "Dobrý deň".encode() in raw  # as written, not =C3=BD
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert not message.defects and not any(p.defects for p in message.iter_parts())


@pytest.mark.parametrize("text", ["one\ntwo", "one\ntwo\n", "one\n\n", "one\r\ntwo\r\n", "one\rtwo\n", "ľ\n", ""])
@pytest.mark.parametrize("eight_bit", [True, False], ids=["8bit", "7bit"])
def test_a_bodys_lines_end_in_crlf_however_its_template_ended_them(text: str, eight_bit: bool) -> None:
    raw = build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(text=text), eight_bit)
    body = parse(raw).get_body(("plain",))

    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "\n".join(text.splitlines()) + "\n"
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare LF (nor CR) anywhere


@pytest.mark.parametrize(
    "html",
    [
        "<p>" + "á" * 500 + "</p>",  # one line of 1,007 octets: over SMTP's 998
        "<p>--=_breachwire_alternative--</p>",  # the boundary: unencoded, it would end the message early
        "<p>a\0b</p>",  # a NUL, which 8bit may not carry
    ],
)
def test_a_part_8bit_cannot_carry_goes_quoted_printable_and_comes_back_exactly(html: str) -> None:
    raw = build_message("n@example.org", "dpo@example.com", "ntc_abc", rendered(html=html), eight_bit=True)
    message = parse(raw)

    text, part = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and part is not None
    assert (text["Content-Transfer-Encoding"], part["Content-Transfer-Encoding"]) == ("8bit", "quoted-printable")
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert part.get_content().replace("\r\n", "\n") == html + "\n"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


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
