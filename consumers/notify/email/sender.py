"""Sending notices over SMTP: the message built by the standard ``email`` package, sent by aiosmtplib on the
notifier's event loop through a bounded pool of connections, each reused across messages and reopened when the
server drops it.

aiosmtplib flattens each message for the connection it goes over: 8bit bodies with BODY=8BITMIME where the
server announces it, 7-bit (quoted-printable or base64) where it does not, SMTPUTF8 for a non-ASCII mailbox.
"""

import asyncio
import contextlib
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

import aiosmtplib

from consumers.notify.errors import FinalDelivery, RetryableDelivery, classify_smtp
from consumers.notify.render import Rendered
from runtime.settings import SmtpSettings

# Setting a header refuses a value with a raw line break, but the header keeps an RFC 2047 encoded word's
# decoded text, and CPython writes a CR LF decoded from one as it is (CVE-2024-6923, CVE-2026-1299): a report
# title "=?utf-8?q?x=0D=0ABcc:...?=" would add a header. So the decoded values are checked too.
_CONTROLS = frozenset(chr(c) for c in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029])


def message_id(notice_id: str) -> str:
    """Derived from the notice id: a resent notice carries the same Message-ID, so mail systems dedupe it."""
    return f"<{notice_id}@breachwire.notices>"


def build_message(sender: str, to: str, notice_id: str, rendered: Rendered) -> EmailMessage:
    """The notice as an email: multipart/alternative, the text then the HTML, under ``email.policy.SMTP``.

    A header value holding a line break or another control character, raw or RFC 2047-encoded, raises
    ValueError (no header injection).
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate()
    message["Message-ID"] = message_id(notice_id)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    message["Content-Language"] = rendered.locale  # (after the content: setting it drops Content-* headers)
    for name, value in message.items():
        if not _CONTROLS.isdisjoint(str(value)):
            raise ValueError(f"the {name} header holds a line break or another control character")
    return message


class SmtpPool:
    """At most ``size`` SMTP connections, opened when first needed and kept open across messages.

    Idle clients wait in a queue; a send takes one, and hands it back when done, connected or not. Use it from
    one event loop: its connections belong to the loop that opened them."""

    def __init__(self, settings: SmtpSettings, size: int) -> None:
        self._sender = settings.sender
        password = settings.password.get_secret_value() if settings.password else None
        login = bool(settings.username and password)  # (aiosmtplib logs in whenever it has a username)
        self._clients: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(size):
            self._clients.put_nowait(
                aiosmtplib.SMTP(
                    hostname=settings.host,
                    port=settings.port,
                    timeout=settings.timeout_s,
                    start_tls=settings.starttls,  # required when set, never tried when not
                    username=settings.username if login else None,
                    password=password if login else None,
                )
            )
        self._size = size

    async def send(self, to: str, notice_id: str, rendered: Rendered) -> str:
        """Deliver one notice; returns its Message-ID as the receipt."""
        try:
            message = build_message(self._sender, to, notice_id, rendered)
        except ValueError as exc:
            raise FinalDelivery(f"message refused before sending: {exc}") from None
        client = await self._clients.get()
        try:
            await _deliver(client, message)
        except asyncio.CancelledError:
            client.close()  # stopped mid-conversation: the next message starts on a new connection
            raise
        finally:
            self._clients.put_nowait(client)
        return message_id(notice_id)

    async def aclose(self) -> None:
        """Say QUIT on every open connection, once the sends in flight have handed theirs back."""
        clients = [await self._clients.get() for _ in range(self._size)]
        for client in clients:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
            client.close()
            self._clients.put_nowait(client)


async def _deliver(client: aiosmtplib.SMTP, message: EmailMessage) -> None:
    """Send over ``client``, connecting it first if need be. A reused connection the server has closed meanwhile
    is opened again once; the server's answers become RetryableDelivery (4xx) or FinalDelivery (5xx)."""
    for last in (not client.is_connected, True):  # a second attempt only on a connection open before
        try:
            if not client.is_connected:
                await client.connect()
            await client.send_message(message)
            return
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise classify_smtp(refused.code, refused.message) from None
        except aiosmtplib.SMTPResponseException as exc:  # (aiosmtplib has reset the envelope with RSET)
            raise classify_smtp(exc.code, exc.message) from None
        except OSError as exc:  # refused, dropped or timed out (aiosmtplib's own such errors are OSErrors)
            client.close()
            if last:
                raise RetryableDelivery(f"SMTP connection: {exc}") from None
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:  # e.g. a non-ASCII mailbox, no SMTPUTF8
            raise FinalDelivery(f"message refused: {exc}") from None
