"""Sending notices over SMTP: each connection reused across messages and reopened when the server drops it;
a pool keeps a bounded number of them, each driven by a thread of its own (smtplib blocks).

Bodies go as 8bit UTF-8 when the server announces 8BITMIME (RFC 6152), as nearly every server does: no encoding
to spend CPU on and smaller messages. A part that 8bit cannot carry (a line over 998 octets, a NUL, the MIME
boundary), or a server without 8BITMIME, gets quoted-printable.
"""

import asyncio
import base64
import binascii
import contextlib
import queue
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.utils import formataddr, formatdate, parseaddr

from consumers.notify.email.client import SmtpClient
from consumers.notify.errors import FinalDelivery, RetryableDelivery, classify_smtp
from consumers.notify.render import Rendered
from runtime.settings import SmtpSettings

# Characters no header value may hold: CR and LF would start a header of the sender's choosing; the other
# control characters have no business in one either.
_CONTROLS = frozenset(chr(c) for c in [*range(0x20), 0x7F])
_LINE = 78  # the length a header line should keep to (RFC 5322)
_MAX_LINE = 998  # the octets a line may hold at most, CRLF aside (RFC 5322 2.1.1)
# Quoted-printable text cannot hold "=_" (it writes "=" as "=3D"), so this boundary never occurs in such a part;
# an 8bit part that holds it goes quoted-printable.
_BOUNDARY = "=_breachwire_alternative"
_EIGHT_BIT_OPTIONS = ("BODY=8BITMIME",)


class EightBitRefused(Exception):
    """The connection's server does not announce 8BITMIME: the message must be built again, 7-bit."""


def message_id(notice_id: str) -> str:
    """Derived from the notice id: a resent notice carries the same Message-ID, so mail systems dedupe it."""
    return f"<{notice_id}@breachwire.notices>"


def _checked(name: str, value: str) -> str:
    if not _CONTROLS.isdisjoint(value):
        raise ValueError(f"the {name} header holds a line break or another control character")
    return value


def _address(name: str, value: str) -> str:
    """An address header: as given when ASCII, else with its display name RFC 2047-encoded."""
    if _checked(name, value).isascii():
        return value
    display, address = parseaddr(value)
    if not address or not address.isascii():
        raise ValueError(f"the {name} address is not an ASCII address: {value!r}")
    return formataddr((display, address), charset="utf-8")


def _subject(value: str) -> str:
    """The Subject header in lines of at most 78 characters: folded at spaces when it is plain ASCII, else as
    RFC 2047 encoded words (UTF-8, base64) of whole characters, one a line."""
    words = _checked("Subject", value).split(" ")  # the subject is on one line: its words are single-spaced
    if value.isascii() and "=?" not in value and max(map(len, words)) < _LINE // 2:
        lines = ["Subject:"]
        for word in words:
            if len(lines[-1]) + 1 + len(word) > _LINE:
                lines.append("")
            lines[-1] += " " + word
        return "\r\n".join(lines)
    chunks = [b""]
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunks[-1]) + len(encoded) > 42:  # "Subject: =?utf-8?b?" + 56 base64 characters + "?=": 77
            chunks.append(b"")
        chunks[-1] += encoded
    return "Subject: " + "\r\n ".join(f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks)


def _part(content_type: str, text: str, eight_bit: bool) -> bytes:
    """A UTF-8 body part, 8bit when allowed and possible, else quoted-printable; its lines end in CRLF whatever
    the template's ended in."""
    raw = text.encode("utf-8")
    # One LF after each line. Text as templates write it (LFs only) keeps its bytes rather than being split into
    # lines and joined again (a third of this function's time); a CR, alone or before an LF, ends a line too.
    lf = b"\n".join(raw.splitlines()) + b"\n" if b"\r" in raw else raw if raw.endswith(b"\n") else raw + b"\n"
    body = lf.replace(b"\n", b"\r\n")
    if not (
        eight_bit
        and max(map(len, lf.split(b"\n"))) <= _MAX_LINE
        and b"\0" not in body
        and _BOUNDARY.encode("ascii") not in body
    ):
        qp = binascii.b2a_qp(lf, istext=True).replace(b"\n", b"\r\n")
        return _part_head(content_type, "quoted-printable") + qp
    return _part_head(content_type, "7bit" if body.isascii() else "8bit") + body


def _part_head(content_type: str, encoding: str) -> bytes:
    return f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'.encode()


def build_message(sender: str, to: str, notice_id: str, rendered: Rendered, eight_bit: bool = False) -> bytes:
    """The notice as SMTP sends it: multipart/alternative, the text then the HTML, lines ending in CRLF; with
    ``eight_bit`` (for a server that announces 8BITMIME) the parts go unencoded where they can.

    Written out here rather than through ``email.message.EmailMessage``, whose policy-based headers (a new
    header class made for every header set, every address parsed) took ~2.4 ms a message and flattening it
    ~0.7 ms more, more than rendering it; this takes ~0.15 ms. A header value with a line break in it raises
    ValueError (no header injection).
    """
    headers = (
        f"From: {_address('From', sender)}\r\n"
        f"To: {_address('To', to)}\r\n"
        f"{_subject(rendered.subject)}\r\n"
        f"Date: {formatdate(localtime=False)}\r\n"
        f"Message-ID: {message_id(notice_id)}\r\n"
        f"Content-Language: {_checked('Content-Language', rendered.locale)}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative;\r\n boundary="{_BOUNDARY}"\r\n'
        "\r\n"
    )
    # A part's last CRLF belongs to the delimiter after it, so each part's text keeps its own line end.
    separator = f"\r\n--{_BOUNDARY}\r\n".encode("ascii")
    return b"".join(
        (
            headers.encode("ascii"),
            separator[2:],
            _part("text/plain", rendered.text, eight_bit),
            separator,
            _part("text/html", rendered.html, eight_bit),
            f"\r\n--{_BOUNDARY}--\r\n".encode("ascii"),
        )
    )


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._envelope_from = parseaddr(settings.sender)[1]  # the From header's address, as smtplib would take it
        self._smtp: SmtpClient | None = None

    def _connect(self) -> SmtpClient:
        s = self._settings
        smtp = SmtpClient(s.host, s.port, timeout=s.timeout_s)
        if s.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if s.username and s.password:
            smtp.login(s.username, s.password.get_secret_value())
        smtp.ehlo_or_helo_if_needed()  # what the server announces (8BITMIME) is known before the first message
        return smtp

    @property
    def eight_bit(self) -> bool:
        """Whether the open connection's server takes 8bit bodies (False while none is open)."""
        return self._smtp is not None and self._smtp.has_extn("8bitmime")

    def send(self, to: str, message: bytes, eight_bit: bool = False) -> None:
        """Deliver one message built by ``build_message`` to ``to``. An ``eight_bit`` message raises
        EightBitRefused, unsent, when the server does not announce 8BITMIME."""
        for attempt in (1, 2):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                if eight_bit and not self.eight_bit:
                    raise EightBitRefused
                options = _EIGHT_BIT_OPTIONS if eight_bit else ()
                self._smtp.sendmail(self._envelope_from, [to], message, mail_options=options)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, reason = next(iter(exc.recipients.values()))
                raise classify_smtp(code, reason.decode(errors="replace")) from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                error = exc.smtp_error
                text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
                raise classify_smtp(exc.smtp_code, text) from None
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError, OSError) as exc:
                # A reused connection may have been closed by the server; open a new one once.
                self.close()
                if attempt == 2:
                    raise RetryableDelivery(f"SMTP connection: {exc}") from None
            except ValueError as exc:  # e.g. an address smtplib cannot put in a command
                raise FinalDelivery(f"message refused before sending: {exc}") from None
        raise RetryableDelivery("SMTP: not sent")

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


@dataclass(frozen=True)
class _Job:
    """A message for a connection's thread, and the future it settles on the sending task's loop."""

    to: str
    notice_id: str
    rendered: Rendered
    message: bytes
    eight_bit: bool
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.cancelled():  # the awaiting task was cancelled meanwhile
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class SmtpPool:
    """At most ``size`` SMTP connections, each kept open across messages by a thread of its own (smtplib blocks).

    The threads take messages from one queue, each the next as soon as it is done with one, so a connection
    never waits for the event loop (busy rendering the next notices) to be handed its next message: with
    ``run_in_executor`` the connections stood idle ~15% of the time."""

    def __init__(self, settings: SmtpSettings, size: int) -> None:
        self._sender = settings.sender
        # Learnt from the server's EHLO once a connection is open; until then messages are built 7-bit.
        self._eight_bit = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, args=(SmtpSender(settings),), name=f"smtp_{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    async def send(self, to: str, notice_id: str, rendered: Rendered) -> str:
        """Deliver one notice; returns its Message-ID as the receipt."""
        try:
            # Built here, before it queues for a connection: a connection's thread only sends.
            eight_bit = self._eight_bit
            message = build_message(self._sender, to, notice_id, rendered, eight_bit)
        except ValueError as exc:
            raise FinalDelivery(f"message refused before sending: {exc}") from None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._jobs.put(_Job(to, notice_id, rendered, message, eight_bit, loop, done))
        await done
        return message_id(notice_id)

    def _work(self, sender: SmtpSender) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                try:
                    self._send(sender, job)
                except Exception as exc:  # a DeliveryError, or anything else for the awaiting task to raise
                    job.loop.call_soon_threadsafe(_settle, job.done, exc)
                else:
                    job.loop.call_soon_threadsafe(_settle, job.done, None)
        finally:
            sender.close()

    def _send(self, sender: SmtpSender, job: _Job) -> None:
        """Send a job's message; built again 7-bit when this connection's server does not take 8bit."""
        try:
            sender.send(job.to, job.message, job.eight_bit)
        except EightBitRefused:  # this connection's server does not take what the others did
            self._eight_bit = False
            sender.send(job.to, build_message(self._sender, job.to, job.notice_id, job.rendered))
        self._eight_bit = sender.eight_bit

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
