"""Sending notices over SMTP: each connection reused across messages and reopened when the server drops it;
a pool keeps a bounded number of them, each used by one thread at a time (smtplib blocks)."""

import asyncio
import contextlib
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate

from consumers.notify.errors import FinalDelivery, RetryableDelivery, classify_smtp
from consumers.notify.render import Rendered
from runtime.settings import SmtpSettings


def message_id(notice_id: str) -> str:
    """Derived from the notice id: a resent notice carries the same Message-ID, so mail systems dedupe it."""
    return f"<{notice_id}@breachwire.notices>"


def build_message(sender: str, to: str, notice_id: str, rendered: Rendered) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(notice_id)
    message["Content-Language"] = rendered.locale
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        if s.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if s.username and s.password:
            smtp.login(s.username, s.password.get_secret_value())
        return smtp

    def send(self, to: str, notice_id: str, rendered: Rendered) -> str:
        """Deliver one notice; returns its Message-ID as the receipt."""
        message = build_message(self._settings.sender, to, notice_id, rendered)
        for attempt in (1, 2):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                self._smtp.send_message(message)
                return message_id(notice_id)
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
            except ValueError as exc:
                raise FinalDelivery(f"message refused before sending: {exc}") from None
        raise RetryableDelivery("SMTP: not sent")

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


class SmtpPool:
    """At most ``size`` SMTP connections, each kept open across messages; ``send`` waits for a free one."""

    def __init__(self, settings: SmtpSettings, size: int) -> None:
        self._senders = [SmtpSender(settings) for _ in range(size)]
        self._free: asyncio.Queue[SmtpSender] | None = None
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="smtp")

    async def send(self, to: str, notice_id: str, rendered: Rendered) -> str:
        if self._free is None:
            self._free = asyncio.Queue()
            for sender in self._senders:
                self._free.put_nowait(sender)
        sender = await self._free.get()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, sender.send, to, notice_id, rendered)
        finally:
            self._free.put_nowait(sender)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        for sender in self._senders:
            sender.close()
