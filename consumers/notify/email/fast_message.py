"""The bytes the stock path sends for the common notice, written directly.

``build_message`` + aiosmtplib's flattening spend most of a notifier's CPU on an email: the header registry
parses every value back into a tree, ``set_content`` and ``add_alternative`` copy headers about, and the
generator refolds every header. For the common notice (ASCII addresses and subject, short header lines) the
result is fixed enough to write as a template: this module writes exactly the bytes
``flatten_message(build_message(...))`` gives for a server that announces 8BITMIME, and a test holds it to them
byte for byte over every template, locale and audience. A subject in other than ASCII (RFC 2047 encoded words) is
folded by the header registry itself, that one header. For anything else it declines (returns None) and the
stock path sends the notice: an address with a quoted or non-ASCII part, or a header that needs other folding;
any control character or ``=?`` in a header value (so the stock path's header-injection refusal decides on
those).

The bodies use what the stock path uses: the same choice between 7bit, 8bit, quoted-printable and base64 as
``email.contentmanager`` makes under ``email.policy.SMTP``, with ``email.quoprimime``'s encoder itself.
"""

import binascii
import re
from dataclasses import dataclass
from email import quoprimime
from email.policy import SMTP
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache

from consumers.notify.email.message import boundary, message_id
from consumers.notify.render import Rendered

MAX_LINE = 78  # email.policy.SMTP.max_line_length
_BASE64_CHUNK = MAX_LINE // 4 * 3  # octets a base64 line carries (as email.contentmanager cuts them)
# A mailbox the header registry writes back exactly as given: "addr" or "Display Name <addr>", dot-atoms of
# atext without "=" and "?" (no encoded word can start), words of the name separated by single spaces.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+"
_ADDR = rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
PLAIN_MAILBOX = re.compile(rf"(?:{_ATEXT}(?: {_ATEXT})* <(?P<bracketed>{_ADDR})>|(?P<bare>{_ADDR}))")
_NOTICE_ID = re.compile(r"[A-Za-z0-9_-]+")
_LOCALE = re.compile(r"[A-Za-z0-9_-]+")
_BOUNDARY = re.compile(r"=_[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class FastMessage:
    """A message ready for ``SMTP.sendmail``: its envelope and its bytes. The bytes are 8bit (BODY=8BITMIME)."""

    sender: str
    recipient: str
    data: bytes


def fast_message(sender: str, to: str, notice_id: str, rendered: Rendered, date: str) -> FastMessage | None:
    """What ``send_message(build_message(sender, to, notice_id, rendered, date))`` would send to a server that
    announces 8BITMIME, or None where this does not reproduce it exactly (then send the stock message)."""
    from_match = PLAIN_MAILBOX.fullmatch(sender)
    to_match = PLAIN_MAILBOX.fullmatch(to)
    subject = _subject(rendered.subject)
    locale = rendered.locale
    mark = boundary(notice_id, rendered)
    if (
        from_match is None
        or to_match is None
        or subject is None
        or not _NOTICE_ID.fullmatch(notice_id)
        or not _LOCALE.fullmatch(locale)
        or not _written_as_given(date)
        or not _BOUNDARY.fullmatch(mark)
    ):
        return None
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Date: {date}",
        f"Message-ID: {message_id(notice_id)}",
        f"Content-Language: {locale}",
    ]
    if any(len(line) > MAX_LINE for line in headers):
        return None  # (the stock path would fold it)
    try:
        text_cte, text = _body(rendered.text)
        html_cte, html = _body(rendered.html)
    except UnicodeEncodeError:  # (a lone surrogate: the stock path refuses it)
        return None
    head = (
        f"From: {sender}\r\nTo: {to}\r\n{subject}Date: {date}\r\nMessage-ID: {message_id(notice_id)}\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="{mark}"\r\n'
        f"Content-Language: {locale}\r\n\r\n"
        f'--{mark}\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {text_cte}\r\n\r\n'
    )
    # (The HTML part carries a MIME-Version of its own: add_alternative makes it as an EmailMessage.)
    middle = (
        f'\r\n--{mark}\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: {html_cte}\r\n'
        "MIME-Version: 1.0\r\n\r\n"
    )
    data = b"".join((head.encode("ascii"), text, middle.encode("ascii"), html, f"\r\n--{mark}--\r\n".encode("ascii")))
    return FastMessage(from_match["bracketed"] or from_match["bare"], to_match["bracketed"] or to_match["bare"], data)


# The date and the subject repeat from notice to notice (one date a second, a subject per incident, audience and
# locale): their checks and folding are worked out once each.
@lru_cache(maxsize=1024)
def _written_as_given(date: str) -> bool:
    """Whether the Date header writes ``date`` as it is: it parses a date and writes it again (as
    ``email.utils.formatdate()`` writes them)."""
    try:
        return format_datetime(parsedate_to_datetime(date)) == date
    except (TypeError, ValueError):
        return False


@lru_cache(maxsize=1024)
def _subject(subject: str) -> str | None:
    """The Subject header as the header registry folds it under ``email.policy.SMTP``, with its CR LF: plain
    ASCII words written here, other text (RFC 2047 encoded words) by the registry itself; None for a subject
    with control characters, ``=?`` or other spaces than single ones between words."""
    if (
        not subject
        or not subject.isprintable()  # (no control character, no whitespace but the space)
        or "=?" in subject
        or "  " in subject
        or subject[0] == " "
        or subject[-1] == " "
    ):
        return None
    if not subject.isascii():
        # Encoded words and their folding are the registry's to write: the one header the stock path writes
        # for these notices, against the whole message it would build and flatten.
        name, header = SMTP.header_store_parse("Subject", subject)
        return SMTP.fold_binary(name, header).decode("ascii")
    if len("Subject: ") + len(subject) <= MAX_LINE:
        return f"Subject: {subject}\r\n"
    if len(subject) + 1 <= MAX_LINE:  # the whole value fits on a line of its own: it moves there
        return f"Subject:\r\n {subject}\r\n"
    # Longer: folded between words, each line filled as far as it goes. The stock folder moves a space that
    # ends a line to the start of the next, so every line after the first starts with one.
    words = subject.split(" ")
    if any(len(word) + 1 > MAX_LINE for word in words):
        return None  # (a word longer than a line: the stock path writes it as encoded words)
    lines = [f"Subject: {words[0]}"] if len("Subject: ") + len(words[0]) <= MAX_LINE else ["Subject:", f" {words[0]}"]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) <= MAX_LINE:
            lines[-1] += f" {word}"
        else:
            lines.append(f" {word}")
    return "\r\n".join(lines) + "\r\n"


def _body(content: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, the part's body as written) as ``email.contentmanager`` chooses and encodes
    text under ``email.policy.SMTP``, and the generator writes it: lines end in CR LF."""
    lines = content.encode("utf-8").splitlines()
    if max((len(line) for line in lines), default=0) <= MAX_LINE:
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if body.isascii() else "8bit"), body
    # Lines too long for 7bit or 8bit: quoted-printable, or base64 where that is shorter on the first ten lines.
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    # Encoded with CR LF line ends, as the generator writes them. The choice is made on the length with LF ends
    # (what the stock path measures): one less for each CR LF, which stands only where a line ends (every CR and
    # LF of the text is a line break). Quoted-printable encodes line by line, so the sniff is also the start of
    # the whole body: only the lines after it are encoded again.
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), MAX_LINE, "\r\n")
    if len(sniff_qp) - sniff_qp.count("\r\n") > len(binascii.b2a_base64(sniff)):
        whole = b"\r\n".join(lines) + b"\r\n"
        chunks = (
            binascii.b2a_base64(whole[i : i + _BASE64_CHUNK], newline=False)
            for i in range(0, len(whole), _BASE64_CHUNK)
        )
        return "base64", b"\r\n".join(chunks) + b"\r\n"
    encoded = sniff_qp
    if len(lines) > 10:
        encoded += quoprimime.body_encode((b"\n".join(lines[10:]) + b"\n").decode("latin-1"), MAX_LINE, "\r\n")
    return "quoted-printable", encoded.encode("ascii")
