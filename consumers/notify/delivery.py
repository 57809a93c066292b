"""Delivering a batch of notices at once: render, then send by channel, on the notifier's event loop.

At most ``notify.concurrency`` sends are in flight overall and ``notify.per_host`` to any one host (a webhook
URL's host, the SMTP server, Twilio); email goes through a bounded pool of reused SMTP connections. The caller
hands in chains, one per recipient address: a chain runs its notices one after the other, chains run side by
side, so a follow-up never overtakes the first notice to the same place.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from consumers.notify.email import SmtpPool
from consumers.notify.errors import DeliveryError, FinalDelivery, RetryableDelivery
from consumers.notify.guard import GuardedTransport, Resolver, TargetGuard, system_resolver
from consumers.notify.http import no_cookies
from consumers.notify.render import Rendered, Renderer
from consumers.notify.sms import TwilioSender
from consumers.notify.spread import SpreadTransport
from consumers.notify.webhook import WebhookSender
from runtime.datamap import MapSource
from runtime.settings import Settings
from schemas import Channel, NoticeRequested

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Attempt:
    """One attempt's result: a receipt, or the error (retryable or final)."""

    receipt: str | None = None
    error: DeliveryError | None = None
    locale: str | None = None
    rendered: str | None = None
    deferred: bool = False
    """Not attempted: its batch stopped starting sends (its time ran out, or the notifier stops) before its turn."""

    @property
    def delivered(self) -> bool:
        return self.error is None and not self.deferred

    @property
    def retryable(self) -> bool:
        return isinstance(self.error, RetryableDelivery)


async def run_chains(chains: Sequence[Sequence[T]], step: Callable[[T, list[R]], Awaitable[R]]) -> list[R]:
    """Run ``step`` over every item, chain by chain in order, the chains concurrently. ``step`` sees the
    results of the items before it in its chain. Returns every result, chains in the order given."""

    async def run_chain(chain: Sequence[T]) -> list[R]:
        done: list[R] = []
        for item in chain:
            done.append(await step(item, done))
        return done

    return [r for results in await asyncio.gather(*(run_chain(c) for c in chains)) for r in results]


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        datamap: MapSource,
        renderer: Renderer,
        resolver: Resolver = system_resolver,
        on_send: Callable[[NoticeRequested, float, DeliveryError | None], None] | None = None,
    ) -> None:
        """``resolver`` looks up webhook hosts for the target guard (tests script it to play a hostile DNS);
        ``on_send`` hears of each send: how long it took and its error (the notifier's metrics)."""
        self._on_send = on_send or (lambda _notice, _seconds, _error: None)
        self._maps = datamap
        self._renderer = renderer
        limits = settings.notify
        self._overall = asyncio.Semaphore(limits.concurrency)
        self._per_host_limit = limits.per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        pool = httpx.Limits(max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency)
        # SMS goes to the configured Twilio base URL; webhooks go to customers' URLs, so only their client is guarded.
        self._client = httpx.AsyncClient(limits=pool, cookies=no_cookies())
        guard = TargetGuard(limits.allow_targets, resolver=resolver, require_https=limits.require_https)
        ssl_context = httpx.create_ssl_context()

        def guarded(part: httpx.Limits) -> httpx.AsyncBaseTransport:
            return GuardedTransport(guard, part, verify=ssl_context)

        self._webhook_client = httpx.AsyncClient(
            transport=SpreadTransport(limits.concurrency, guarded), cookies=no_cookies()
        )
        self._smtp_host = settings.smtp.host
        self._email = SmtpPool(settings.smtp, limits.smtp_connections)
        self._webhook = WebhookSender(settings.webhook, self._webhook_client, guard)
        self._sms = TwilioSender(settings.twilio, self._client)
        self._sms_host = urlsplit(settings.twilio.base_url).hostname or "twilio"

    def _host(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self._per_host_limit)
        return self._hosts[host]

    def _host_of(self, notice: NoticeRequested) -> str:
        """Where a notice goes, as ``per_host`` counts: the SMTP server, Twilio, or the webhook URL's host."""
        if notice.channel is Channel.EMAIL:
            return self._smtp_host
        if notice.channel is Channel.SMS:
            return self._sms_host
        return urlsplit(notice.address).hostname or ""

    async def deliver(self, notice: NoticeRequested, starting: Callable[[], bool] = lambda: True) -> Attempt:
        """Render and send one notice; never raises a DeliveryError, returns it. A notice whose turn comes
        when ``starting()`` says no more sends start (the batch's time ran out) is not sent: the attempt says it
        was deferred.

        A notice is rendered once it has its place among the sends in flight: rendering a whole batch up front
        kept the event loop busy for a few hundred ms, while answered sends waited to be taken in and the
        connections stood idle.
        """
        async with self._overall, self._host(self._host_of(notice)):
            if not starting():  # its turn came after its batch stopped starting sends
                return Attempt(deferred=True)
            try:
                rendered = self._renderer.render(notice)
            except DeliveryError as exc:
                return Attempt(error=exc)
            started = time.perf_counter()
            try:
                receipt = await self._send(notice, rendered)
            except DeliveryError as exc:
                self._on_send(notice, time.perf_counter() - started, exc)
                return Attempt(error=exc, locale=rendered.locale)
            self._on_send(notice, time.perf_counter() - started, None)
        return Attempt(receipt=receipt, locale=rendered.locale, rendered=rendered.as_evidence())

    async def _send(self, notice: NoticeRequested, rendered: Rendered) -> str:
        if notice.channel is Channel.EMAIL:
            return await self._email.send(notice.address, notice.notice_id, rendered)
        if notice.channel is Channel.WEBHOOK:
            customer = self._maps.current().customers.get(notice.recipient_id)  # a customer added since start too
            if customer is None or customer.webhook_secret is None:
                raise FinalDelivery("no webhook secret for this recipient in the data map")
            return await self._webhook.send(
                notice.address,
                customer.webhook_secret.get_secret_value(),
                notice.notice_id,
                rendered.json_body,
            )
        if notice.channel is Channel.SMS:
            return await self._sms.send(notice.address, rendered.sms)
        raise FinalDelivery(f"channel {notice.channel.value} is not available")

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._webhook_client.aclose()
        await self._email.aclose()
