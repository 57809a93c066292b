"""POSTing signed webhooks. The webhook-id is the notice id, the same on every attempt, so a receiver that
sees a notice twice can tell it is the same one."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from standardwebhooks.webhooks import Webhook

from consumers.notify.errors import RetryableDelivery, classify_http
from runtime.settings import WebhookSettings


def sign_headers(secret: str, msg_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    timestamp = now or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, timestamp, body.decode()),
    }


def retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class WebhookSender:
    def __init__(self, settings: WebhookSettings, client: httpx.Client | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"user-agent": settings.user_agent},
            follow_redirects=False,
        )

    def send(self, url: str, secret: str, notice_id: str, body: bytes) -> str:
        """Deliver one notice; returns the receiver's status line as the receipt."""
        headers = {"content-type": "application/json", **sign_headers(secret, notice_id, body)}
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise RetryableDelivery(f"timeout: {exc.__class__.__name__}") from None
        except httpx.TransportError as exc:
            raise RetryableDelivery(f"connection: {exc.__class__.__name__}: {exc}") from None
        error = classify_http(
            response.status_code,
            response.reason_phrase,
            retry_after_seconds(response.headers.get("retry-after")),
        )
        if error is not None:
            raise error
        return f"HTTP {response.status_code}"

    def close(self) -> None:
        self._client.close()
