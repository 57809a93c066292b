"""Standard Webhooks verification against every active secret of a subprocessor (secrets rotate)."""

from collections.abc import Iterable, Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def verify(secrets: Iterable[str], body: bytes, headers: Mapping[str, str]) -> bool:
    """True when one of ``secrets`` signed ``body`` with these headers, within the 5-minute tolerance."""
    wanted = {k.lower(): v for k, v in headers.items() if k.lower().startswith("webhook-")}
    text = body.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            Webhook(secret).verify(text, wanted, json_parse=False)
        except (WebhookVerificationError, ValueError):
            continue
        return True
    return False
