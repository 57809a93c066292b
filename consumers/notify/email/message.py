"""A notice as an email, built by the standard ``email`` package under ``email.policy.SMTP``: the reference for
what goes on the wire (``fast_message`` writes the same bytes directly for the common notice)."""

import hashlib
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from consumers.notify.render import Rendered

# Setting a header refuses a value with a raw line break, but the header keeps an RFC 2047 encoded word's
# decoded text, and CPython writes a CR LF decoded from one as it is (CVE-2024-6923, CVE-2026-1299): a report
# title "=?utf-8?q?x=0D=0ABcc:...?=" would add a header. So the decoded values are checked too.
_CONTROLS = frozenset(chr(c) for c in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029])


def message_id(notice_id: str) -> str:
    """Derived from the notice id: a resent notice carries the same Message-ID, so mail systems dedupe it."""
    return f"<{notice_id}@breachwire.notices>"


def boundary(notice_id: str, rendered: Rendered) -> str:
    """The multipart boundary: a digest of the notice's id and parts, so a message's bytes depend on its content
    alone, and no body can hold its own boundary (it would have to contain a digest of itself). "=_" can start
    no quoted-printable or base64 line either."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (notice_id, rendered.locale, rendered.subject, rendered.text, rendered.html):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return f"=_{digest.hexdigest()}"


def build_message(sender: str, to: str, notice_id: str, rendered: Rendered, date: str | None = None) -> EmailMessage:
    """The notice as an email: multipart/alternative, the text then the HTML, under ``email.policy.SMTP``.
    ``date`` is the Date header (``email.utils.formatdate()`` when not given).

    A header value holding a line break or another control character, raw or RFC 2047-encoded, raises
    ValueError (no header injection).
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = date if date is not None else formatdate()
    message["Message-ID"] = message_id(notice_id)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    message.set_boundary(boundary(notice_id, rendered))
    message["Content-Language"] = rendered.locale  # (after the content: setting it drops Content-* headers)
    for name, value in message.items():
        if not _CONTROLS.isdisjoint(str(value)):
            raise ValueError(f"the {name} header holds a line break or another control character")
    return message
