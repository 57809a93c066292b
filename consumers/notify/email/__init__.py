"""Email: multipart text + HTML over SMTP."""

from consumers.notify.email.message import build_message, message_id
from consumers.notify.email.sender import SmtpPool

__all__ = ["SmtpPool", "build_message", "message_id"]
