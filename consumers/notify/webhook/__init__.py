"""Webhooks: JSON bodies POSTed over HTTP, signed per Standard Webhooks with the customer's secret."""

from consumers.notify.webhook.sender import WebhookSender, sign_headers

__all__ = ["WebhookSender", "sign_headers"]
