"""Email: multipart text + HTML over SMTP."""

from consumers.notify.email.sender import SmtpPool, SmtpSender, build_message

__all__ = ["SmtpPool", "SmtpSender", "build_message"]
