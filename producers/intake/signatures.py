"""Standard Webhooks verification against every active secret of a subprocessor (secrets rotate).

The signature itself is checked by the ``standardwebhooks`` package, secret by secret. Before it, the headers are
held to what this intake accepts (a printable webhook-id of at most 128 characters; a timestamp of ASCII digits
within ``tolerance_s``, which may not exceed the package's own five minutes), so that no header can make the
package raise anything but a verification error; every failure becomes a :class:`WebhookSignatureError`.
"""

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

MAX_ID_LENGTH = 128
MAX_TOLERANCE_S = 300  # the standardwebhooks package refuses timestamps further off than this
_ASCII_DIGITS = frozenset("0123456789")


class WebhookSignatureError(ValueError):
    """Why a request is not verified; the message is safe to show to the sender."""


@dataclass(frozen=True)
class Verified:
    delivery_id: str
    timestamp: int
    secret_index: int  # which of the active secrets verified: useful to see when an old one may go


def verify(secrets: Sequence[str], body: bytes, headers: Mapping[str, str], now: float, tolerance_s: int) -> Verified:
    """The delivery, when one of ``secrets`` signed ``body`` with these headers within ``tolerance_s``."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signature = headers.get("webhook-signature", "")
    if not (msg_id and timestamp and signature):
        raise WebhookSignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    if len(msg_id) > MAX_ID_LENGTH or not msg_id.isprintable() or not msg_id.isascii():
        raise WebhookSignatureError(f"webhook-id must be at most {MAX_ID_LENGTH} printable ASCII characters")
    if not set(timestamp) <= _ASCII_DIGITS or len(timestamp) > 12:
        raise WebhookSignatureError("webhook-timestamp must be whole seconds since the epoch, in ASCII digits")
    if abs(now - int(timestamp)) > min(tolerance_s, MAX_TOLERANCE_S):
        raise WebhookSignatureError(f"webhook-timestamp is more than {tolerance_s} seconds off")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookSignatureError("the body is not UTF-8") from None
    # Only well-formed v1 entries go to the package, which stops at the first entry it cannot split.
    offered = " ".join(entry for entry in signature.split(" ") if _is_v1(entry))
    if not offered:
        raise WebhookSignatureError("webhook-signature carries no v1,<base64> signature")
    wanted = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": offered}
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, wanted, json_parse=False)
        except (WebhookVerificationError, EmptyWebhookSecretError, ValueError):
            continue  # ValueError: a secret that is not base64 (refused at load; never verifies)
        return Verified(msg_id, int(timestamp), index)
    raise WebhookSignatureError("the webhook-signature does not verify with any active secret of this subprocessor")


def _is_v1(entry: str) -> bool:
    version, _, value = entry.partition(",")
    if version != "v1" or not value:
        return False
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


def sign(secret: str, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks headers a sender puts on ``body`` (for clients, tests and the benchmark).

    The specification signs text: a body that is not UTF-8 is signed as decoded with replacement characters,
    which the intake refuses before any signature is checked.
    """
    text = body.decode("utf-8", errors="replace")
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), text)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
