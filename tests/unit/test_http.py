"""SpreadTransport: requests spread over small pools, never more in one than it holds, back to the pool that served
their origin before, and every slot given back (after an answer or an error)."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from consumers.notify.http import SpreadTransport


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
