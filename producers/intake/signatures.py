"""Standard Webhooks verification against every active secret of a subprocessor (secrets rotate).

Implemented over the raw body bytes with ``hmac`` (the library decodes the body as UTF-8 and fixes its own
tolerance); the signature is base64(HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")), and the
header may carry several space-separated ``v1,<signature>`` entries.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_ID_LENGTH = 128


class SignatureError(ValueError):
    """Why a request is not verified; the message is safe to show to the sender."""


@dataclass(frozen=True)
class Verified:
    delivery_id: str
    timestamp: int
    secret_index: int  # which of the active secrets verified: useful to see when an old one may go


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_") + "==")


def verify(secrets: Sequence[str], body: bytes, headers: Mapping[str, str], now: float, tolerance_s: int) -> Verified:
    """The delivery, when one of ``secrets`` signed ``body`` with these headers within ``tolerance_s``."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signature = headers.get("webhook-signature", "")
    if not (msg_id and timestamp and signature):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    if len(msg_id) > MAX_ID_LENGTH or not msg_id.isprintable():
        raise SignatureError(f"webhook-id must be at most {MAX_ID_LENGTH} printable characters")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("webhook-timestamp must be whole seconds since the epoch")
    if abs(now - int(timestamp)) > tolerance_s:
        raise SignatureError(f"webhook-timestamp is more than {tolerance_s} seconds off")
    offered = []
    for entry in signature.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1":
            try:
                offered.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for index, secret in enumerate(secrets):
        try:
            expected = hmac.new(_key(secret), signed, hashlib.sha256).digest()
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return Verified(msg_id, int(timestamp), index)
    raise SignatureError("the webhook-signature does not verify with any active secret of this subprocessor")


def sign(secret: str, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks headers a sender puts on ``body`` (for clients, tests and the benchmark)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}"}
