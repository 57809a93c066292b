"""SMS through Twilio's Messages REST API."""

from consumers.notify.sms.sender import TwilioSender, messages_url

__all__ = ["TwilioSender", "messages_url"]
