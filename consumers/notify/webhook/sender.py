"""POSTing signed webhooks. The webhook-id is the notice id, the same on every attempt, so a receiver that
sees a notice twice can tell it is the same one. The target guard runs before every POST and again on every new
connection: the client must be on a ``GuardedTransport`` (see consumers/notify/guard.py), so the address checked is
the address connected to."""

from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from consumers.notify.errors import classify_http, retry_after_seconds
from consumers.notify.guard import TargetGuard
from consumers.notify.http import post
from runtime.settings import WebhookSettings

__all__ = ["WebhookSender", "retry_after_seconds", "sign_headers"]


def sign_headers(secret: str, msg_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    timestamp = now or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, timestamp, body.decode()),
    }


class WebhookSender:
    def __init__(self, settings: WebhookSettings, client: httpx.AsyncClient, guard: TargetGuard) -> None:
        self._settings = settings
        self._client = client
        self._guard = guard

    async def send(self, url: str, secret: str, notice_id: str, body: bytes) -> str:
        """Deliver one notice; returns the receiver's status line as the receipt."""
        # Refuses a non-http(s) URL or a refused target before the body is signed; the transport checks again at
        # connect time, and raises RefusedTarget (a FinalDelivery) or RetryableDelivery out of post() itself.
        await self._guard.check(url)
        headers = {
            "content-type": "application/json",
            "user-agent": self._settings.user_agent,
            **sign_headers(secret, notice_id, body),
        }
        response = await post(
            self._client,
            url,
            content=body,
            headers=headers,
            timeout=self._settings.timeout_s,
            deadline_s=self._settings.deadline_s,
            follow_redirects=False,
        )
        error = classify_http(
            response.status_code,
            response.reason_phrase,
            retry_after_seconds(response.headers.get("retry-after")),
        )
        if error is not None:
            raise error
        return f"HTTP {response.status_code}"
