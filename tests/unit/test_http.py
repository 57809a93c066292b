"""The notifier's HTTP clients: no cookie kept from one answer for the next request; and SpreadTransport: requests
spread over small pools, never more in one than it holds, back to the pool that served their origin before, and
every slot given back (after an answer or an error)."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from breachwire.dev.samples import notice_from_report, sample_report
from breachwire.dev.sinks import Answer, WebhookSink
from consumers.assess.rules import RuleBook
from consumers.notify.delivery import Attempt, Dispatcher
from consumers.notify.http import SpreadTransport
from consumers.notify.render import Renderer
from runtime import resources
from runtime.datamap import DataMap
from runtime.settings import load_settings
from schemas import Audience, Channel


class Body(httpx.AsyncByteStream):
    """A streamed body, as a real transport answers (a body given whole is read and closed at once)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data


class Pools:
    """Mock pools that record which pool answered and how many requests each had at once."""

    def __init__(self) -> None:
        self.count = 0
        self.in_flight: Counter[int] = Counter()
        self.peak: Counter[int] = Counter()
        self.fail = False

    def __call__(self, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
        assert limits.max_connections == 2
        number = self.count
        self.count += 1

        async def handle(request: httpx.Request) -> httpx.Response:
            self.in_flight[number] += 1
            self.peak[number] = max(self.peak[number], self.in_flight[number])
            await asyncio.sleep(0.01)
            self.in_flight[number] -= 1
            if self.fail:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(200, stream=Body(str(number).encode()))

        return httpx.MockTransport(handle)


def test_requests_spread_over_the_pools_and_come_back_to_their_origins_pool() -> None:
    pools = Pools()

    async def run() -> tuple[list[str], list[str], list[str]]:
        async with httpx.AsyncClient(transport=SpreadTransport(6, pools)) as client:
            together = await asyncio.gather(*(client.get("http://a.example/") for _ in range(6)))
            one_by_one = [(await client.get("http://a.example/")).text for _ in range(3)]
            other = [(await client.get("http://b.example/")).text for _ in range(2)]
        return [r.text for r in together], one_by_one, other

    together, one_by_one, other = asyncio.run(run())

    assert pools.count == 3
    assert sorted(together) == ["0", "0", "1", "1", "2", "2"]
    assert max(pools.peak.values()) == 2
    assert one_by_one == ["0", "0", "0"]  # the first pool that served a.example, which keeps its connections
    assert other == ["0", "0"]  # all idle: the least busy, and from then on the same


def test_a_failed_request_gives_its_slot_back() -> None:
    pools = Pools()

    async def run() -> list[str]:
        async with httpx.AsyncClient(transport=SpreadTransport(2, pools)) as client:
            pools.fail = True
            for _ in range(3):
                with pytest.raises(httpx.ConnectError):
                    await client.get("http://a.example/")
            pools.fail = False
            return [r.text for r in await asyncio.gather(*(client.get("http://a.example/") for _ in range(2)))]

    assert asyncio.run(run()) == ["0", "0"]
    assert pools.peak[0] == 2


def test_a_cookie_one_receiver_sets_never_goes_to_the_next(
    webhook_sink: WebhookSink, datamap: DataMap, rules: RuleBook
) -> None:
    # Two customers' endpoints on one host, as on a shared relay: the first answers with a session cookie.
    webhook_sink.behaviour = lambda path, webhook_id, attempt: Answer(
        headers={"Set-Cookie": "session=acme-eu; Path=/"} if path == "/hooks/acme-eu" else {}
    )
    settings = load_settings(
        datamap_dir=resources.example_datamap(),
        notify={"allow_targets": ["127.0.0.0/8"], "require_https": False},
    )
    notices = [
        notice_from_report(
            sample_report(), datamap, Audience.CONTROLLER, Channel.WEBHOOK, rules=rules, customer=datamap.customers[c]
        ).model_copy(update={"address": webhook_sink.url(f"/hooks/{c}")})
        for c in ("acme-eu", "acme-eu", "paris-voyages")
    ]

    async def deliver_in_turn() -> list[Attempt]:
        dispatcher = Dispatcher(settings, datamap, Renderer(settings.templates_dir, rules))
        try:
            return [await dispatcher.deliver(n) for n in notices]
        finally:
            await dispatcher.aclose()

    attempts = asyncio.run(deliver_in_turn())

    assert all(a.delivered for a in attempts), attempts
    assert [r.path for r in webhook_sink.received] == ["/hooks/acme-eu", "/hooks/acme-eu", "/hooks/paris-voyages"]
    assert [r.headers.get("cookie") for r in webhook_sink.received] == [None, None, None]
