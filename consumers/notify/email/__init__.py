"""Email: multipart text + HTML over SMTP."""

from consumers.notify.email.sender import SmtpPool, build_message, message_id

__all__ = ["SmtpPool", "build_message", "message_id"]
