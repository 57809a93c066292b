"""Email: multipart text + HTML over SMTP."""

from consumers.notify.email.sender import SmtpSender, build_message

__all__ = ["SmtpSender", "build_message"]
