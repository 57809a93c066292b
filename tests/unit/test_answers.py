"""A hostile receiver cannot hold or flood the notifier: what is read of an answer is capped, and an attempt
has one deadline however slowly the answer trickles in. The receivers are real HTTP servers on 127.0.0.1."""

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable

import httpx

from consumers.notify.errors import RetryableDelivery
from consumers.notify.http import MAX_ANSWER_BYTES, Answer, post

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    await reader.readexactly(length)
    return head


def run_against(handler: Handler, deadline_s: float = 5.0) -> tuple[Answer | Exception, float, list[bytes]]:
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await _read_request(reader))
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main() -> tuple[Answer | Exception, float]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        started = time.monotonic()
        try:
            async with httpx.AsyncClient() as client:
                result: Answer | Exception = await post(
                    client, f"http://127.0.0.1:{port}/hook", content=b"{}", timeout=10.0, deadline_s=deadline_s
                )
        except RetryableDelivery as exc:
            result = exc
        elapsed = time.monotonic() - started
        server.close()
        return result, elapsed

    result, elapsed = asyncio.run(main())
    return result, elapsed, heads


def test_a_300_mb_answer_is_read_no_further_than_the_cap() -> None:
    size = 300 * 1024 * 1024

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()

    answer, elapsed, _ = run_against(flood)
    assert isinstance(answer, Answer)
    assert answer.status_code == 200
    assert answer.truncated and len(answer.body) == MAX_ANSWER_BYTES
    assert elapsed < 5  # reading 300 MB over loopback would take far longer than the cap's few chunks


def test_an_answer_trickling_a_byte_every_half_second_ends_at_the_deadline() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while True:
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.5)

    error, elapsed, _ = run_against(trickle, deadline_s=1.5)
    assert isinstance(error, RetryableDelivery)
    assert "1.5 s" in str(error)
    assert 1.4 < elapsed < 4  # each read came within the 10 s read timeout: only the deadline ended it


def test_a_compressed_answer_is_never_inflated() -> None:
    bomb = zlib.compress(b"\0" * (50 * 1024 * 1024), 9)  # ~50 KB that would inflate to 50 MB

    async def gzip_anyway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(bomb))
        writer.write(bomb)
        await writer.drain()

    answer, _, heads = run_against(gzip_anyway)
    assert isinstance(answer, Answer)
    assert answer.status_code == 500
    assert len(answer.body) == len(bomb) <= MAX_ANSWER_BYTES
    assert b"accept-encoding: identity" in heads[0].lower()


def test_a_plain_answer_is_read_whole() -> None:
    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"sid":"SM1"}'
        )
        await writer.drain()

    answer, _, _ = run_against(ok)
    assert isinstance(answer, Answer)
    assert (answer.status_code, answer.reason_phrase, answer.body, answer.truncated) == (
        201,
        "Created",
        b'{"sid":"SM1"}',
        False,
    )


def test_a_receiver_that_never_answers_costs_one_deadline() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    error, elapsed, _ = run_against(silent, deadline_s=0.5)
    assert isinstance(error, RetryableDelivery)
    assert elapsed < 3
