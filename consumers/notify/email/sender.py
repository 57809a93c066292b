"""Sending notices over SMTP: the message built by the standard ``email`` package, sent by aiosmtplib on the
notifier's event loop through a bounded pool of connections, each reused across messages and reopened when the
server drops it.

aiosmtplib flattens each message for the connection it goes over: 8bit bodies with BODY=8BITMIME where the
server announces it, 7-bit (quoted-printable or base64) where it does not, SMTPUTF8 for a non-ASCII mailbox.
Where the server has announced 8BITMIME on the connection and ``fast_message`` writes the notice (the common
case), its bytes go out instead, the same bytes without the ``email`` package's work.
"""

import asyncio
import contextlib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from consumers.notify.email.fast_message import FastMessage, fast_message
from consumers.notify.email.message import build_message, message_id
from consumers.notify.errors import FinalDelivery, RetryableDelivery, classify_smtp
from consumers.notify.render import Rendered
from runtime.settings import SmtpSettings


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
        date = formatdate()  # (one Date, whichever path the notice takes)
        fast = fast_message(self._sender, to, notice_id, rendered, date)
        # Refused here, before a connection is taken; built later only if the connection cannot take ``fast``.
        stock = None if fast else _stock(self._sender, to, notice_id, rendered, date)

        def message() -> EmailMessage:
            return stock if stock is not None else _stock(self._sender, to, notice_id, rendered, date)

        client = await self._clients.get()
        try:
            await _deliver(client, fast, message)
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


def _stock(sender: str, to: str, notice_id: str, rendered: Rendered, date: str) -> EmailMessage:
    try:
        return build_message(sender, to, notice_id, rendered, date)
    except ValueError as exc:
        raise FinalDelivery(f"message refused before sending: {exc}") from None


async def _deliver(client: aiosmtplib.SMTP, fast: FastMessage | None, stock: Callable[[], EmailMessage]) -> None:
    """Send over ``client``, connecting it first if need be: ``fast``'s bytes where the server has announced
    8BITMIME on this connection, else the ``stock`` message (its first on a connection: that greets the server).
    A reused connection the server has closed meanwhile is opened again once; the server's answers become
    RetryableDelivery (4xx) or FinalDelivery (5xx)."""
    for last in (not client.is_connected, True):  # a second attempt only on a connection open before
        try:
            if not client.is_connected:
                await client.connect()
            if fast and not client.is_ehlo_or_helo_needed and client.supports_extension("8bitmime"):
                # (as send_message sends them: it adds BODY=8BITMIME where the server announces it)
                await client.sendmail(fast.sender, [fast.recipient], fast.data, mail_options=["BODY=8BITMIME"])
            else:
                await client.send_message(stock())
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
