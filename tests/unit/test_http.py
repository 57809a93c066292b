"""The notifier's HTTP clients: no cookie kept from one answer for the next request; and SpreadTransport: requests
spread over small pools, never more in one than it holds, back to the pool that served their origin before, and
every slot given back (after an answer or an error)."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from breachwire.dev.samples import notice_from_report, sample_report
from breachwire.dev.sinks import Answer, WebhookSink
from consumers.assess.rules import RuleBook
from consumers.notify.delivery import Attempt, Dispatcher
from consumers.notify.render import Renderer
from consumers.notify.spread import SpreadTransport
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


def test_a_request_through_the_spread_pools_is_the_stock_transports_byte_for_byte() -> None:
    """The hand-made path (``consumers/notify/spread.py``) changes where a request waits, never what is sent or
    what is read: the same POSTs through it and through httpx's own transport reach the receiver as the same
    bytes, and come back as the same answers."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                received.append(head + await reader.readexactly(length))
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def post_through(transport: httpx.AsyncBaseTransport, port: int) -> list[tuple[int, bytes, list[Any]]]:
        answers = []
        async with httpx.AsyncClient(transport=transport) as client:
            for body in (b'{"n": 1}', b'{"n": 2}'):
                url = f"http://127.0.0.1:{port}/hooks/acme-eu"
                answer = await client.post(url, content=body, headers={"webhook-id": "ntc_1"})
                answers.append((answer.status_code, answer.content, answer.headers.multi_items()))
        return answers

    async def main() -> tuple[list[Any], list[Any]]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            stock = await post_through(httpx.AsyncHTTPTransport(), port)
            spread = await post_through(
                SpreadTransport(4, lambda limits: httpx.AsyncHTTPTransport(limits=limits)), port
            )
        finally:
            server.close()
        return stock, spread

    stock, spread = asyncio.run(main())
    assert spread == stock
    assert len(received) == 4 and received[2:] == received[:2]
