"""The notifier's HTTP plumbing: a bounded POST, and a cookie jar that keeps nothing.

A receiver is not trusted to answer sensibly: ``post`` reads at most ``MAX_ANSWER_BYTES`` of an answer, asks for
it unencoded (so no compressed answer can expand past that), and gives the whole attempt one deadline, so an
answer of 300 MB, or one byte every half second forever, costs one attempt and no more.

No cookie outlives the answer that set it: a receiver's Set-Cookie would otherwise go back with the next request
to that host, which may be another customer's endpoint on a shared relay.
"""

import asyncio
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from consumers.notify.errors import RetryableDelivery

MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What was read of an HTTP answer: its status, headers, and at most ``MAX_ANSWER_BYTES`` of its body."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    body: bytes
    truncated: bool


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    deadline_s: float,
    max_bytes: int = MAX_ANSWER_BYTES,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Answer:
    """POST and read the answer within ``deadline_s`` overall, keeping at most ``max_bytes`` of its body.

    Timeouts and connection errors raise RetryableDelivery; the answer's status is the caller's to judge.
    """
    headers = {**(headers or {}), "accept-encoding": "identity"}
    try:
        async with asyncio.timeout(deadline_s):
            async with client.stream("POST", url, headers=headers, **kwargs) as response:
                body = bytearray()
                truncated = False
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > max_bytes:
                        truncated = True
                        del body[max_bytes:]
                        break  # leaving the block closes the connection: the rest is never read
                return Answer(response.status_code, response.reason_phrase, response.headers, bytes(body), truncated)
    except TimeoutError:
        raise RetryableDelivery(f"timeout: no whole answer within {deadline_s:g} s") from None
    except httpx.TimeoutException as exc:
        raise RetryableDelivery(f"timeout: {exc.__class__.__name__}") from None
    except httpx.TransportError as exc:
        raise RetryableDelivery(f"connection: {exc.__class__.__name__}: {exc}") from None


def no_cookies() -> CookieJar:
    """A cookie jar for a client (``httpx.AsyncClient(cookies=no_cookies())``) whose policy admits no domain: no
    receiver's cookie is kept, so none goes back with a later request."""
    return CookieJar(DefaultCookiePolicy(allowed_domains=[]))
