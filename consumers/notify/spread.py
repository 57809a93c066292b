"""An httpx transport that spreads its connections over many small pools: the webhooks' hand-made path.

The transport: httpcore's connection pool (1.0.9) does work quadratic in its number of connections on every
request it queues or releases: each idle connection counts all the others again, and every idle socket is polled.
At 64 connections that came to ~10 ms of CPU per request, which held a client to ~90 requests/s against a receiver
answering in 50 ms. Pools of ``POOL_CONNECTIONS`` connections cost a small fraction of that (with 8 a pool, the
pools' bookkeeping was still a fifth of a bare client's CPU; with 2, a few per cent).

A request goes to a pool that served its origin before and has room, so kept-alive connections (and their TLS
sessions) are reused as they are in one big pool; else to the least busy pool. So no request waits for a
connection while any pool has room.

It earns its place in ``make bench-notify`` (docs/benchmarks.md): with one pool the notifier spent about three
times the CPU a webhook. What goes over the wire is the pools' own: a test holds a request through it to the
bytes the stock transport sends.
"""

from collections.abc import AsyncIterator, Callable

import httpx

POOL_CONNECTIONS = 2


class _Release(httpx.AsyncByteStream):
    """A response body that gives its pool's slot back when closed (httpx closes every body it reads)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


class SpreadTransport(httpx.AsyncBaseTransport):
    """At most ``connections`` connections in all, in pools of at most ``POOL_CONNECTIONS`` made by ``pool``
    (given their limits), e.g. ``httpx.AsyncHTTPTransport``; let them share one TLS context, since each load of
    the CA store is slow."""

    def __init__(self, connections: int, pool: Callable[[httpx.Limits], httpx.AsyncBaseTransport]) -> None:
        count = -(-connections // POOL_CONNECTIONS)
        self._size = -(-connections // count)
        limits = httpx.Limits(max_connections=self._size, max_keepalive_connections=self._size)
        self._pools = [pool(limits) for _ in range(count)]
        self._busy = [0] * count
        # (scheme, host, port) -> the pools that have served it, in the order they first did
        self._homes: dict[tuple[str, str, int | None], list[int]] = {}

    def _pick(self, url: httpx.URL) -> int:
        homes = self._homes.setdefault((url.scheme, url.host, url.port), [])
        for index in homes:
            if self._busy[index] < self._size:
                return index
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        if index not in homes:
            homes.append(index)
        return index

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pick(request.url)
        self._busy[index] += 1

        def release() -> None:
            self._busy[index] -= 1

        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Release(response.stream, release)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
