"""Steps 4 and 7 of a request: webhook-ids claimed before publishing and accepted after, in the ledger.

One ledger round trip per request: the claim, which stores the answer the request will give (it follows from the
signed body). Once Kafka has the report, the claim is marked accepted, but the request does not wait for that: the
accept is written with the next batch, behind the claim in the same queue, so a repeat the same intake receives
later finds it accepted, and one another intake receives meanwhile waits for it as for any claim in progress.

Requests arriving together share their writes: one thread writes whatever claims, accepts and releases came in
while it wrote the previous batch, in one transaction (group commit), and wakes each waiting request's event loop
with its result. The event loop never waits on the ledger, and no thread is held per request.
"""

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from producers.intake.problems import Problem
from runtime.store import Ledger
from runtime.store.intake import PENDING, DeliveryClaim, DeliveryKey

log = structlog.get_logger(__name__)


class KeyedLocks:
    """One asyncio lock per key while in use: identical deliveries arriving together are handled in turn."""

    def __init__(self) -> None:
        self._locks: dict[DeliveryKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: DeliveryKey) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass(frozen=True)
class _Write:
    claim: DeliveryClaim | None = None
    accept: DeliveryKey | None = None
    release: DeliveryKey | None = None


@dataclass(frozen=True)
class _Waiting:
    write: _Write
    future: "asyncio.Future[str | None] | None"  # None: nobody waits for it


class LedgerWriter:
    """One thread writing the intake's claims, accepts and releases in batches (see the module docstring)."""

    RETRY_S = 0.5

    def __init__(self, ledger: Ledger, stale_after_s: float) -> None:
        self._store = ledger.intake
        self._stale_after = timedelta(seconds=stale_after_s)
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    async def write(self, write: _Write) -> str | None:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._ensure_started()
        self._queue.put(_Waiting(write, future))
        return await future

    async def claim(self, claim: DeliveryClaim) -> str | None:
        return await self.write(_Write(claim=claim))

    def accept(self, key: DeliveryKey) -> None:
        """Queue the accept; it is written with the next batch."""
        self._ensure_started()
        self._queue.put(_Waiting(_Write(accept=key), None))

    async def release(self, key: DeliveryKey) -> None:
        await self.write(_Write(release=key))

    def close(self) -> None:
        """Stop the thread after the writes queued so far."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="intake-ledger", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while True:  # whatever arrived meanwhile rides along
                    more = self._queue.get_nowait()
                    if more is None:
                        self._queue.put(None)  # stop after this batch
                        break
                    batch.append(more)
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Waiting]) -> None:
        claims = [w.write.claim for w in batch if w.write.claim is not None]
        accepts = [w.write.accept for w in batch if w.write.accept is not None]
        releases = [w.write.release for w in batch if w.write.release is not None]
        now = datetime.now(UTC)
        try:
            answers = iter(self._store.write(claims, accepts, releases, now, now - self._stale_after))
        except Exception as exc:  # every waiting request of the batch gets the ledger's error
            log.error("intake ledger write failed", error=str(exc), writes=len(batch), accepts_kept=len(accepts))
            for waiting in batch:
                _settle(waiting.future, None, exc)
            if accepts:  # their requests were answered: write them once the ledger is back
                time.sleep(self.RETRY_S)
                for key in accepts:
                    self._queue.put(_Waiting(_Write(accept=key), None))
            return
        for waiting in batch:
            _settle(waiting.future, next(answers) if waiting.write.claim is not None else None, None)


def _settle(future: "asyncio.Future[str | None] | None", result: str | None, error: BaseException | None) -> None:
    """Hand a result to the request's event loop (from the writer thread)."""

    if future is None:
        return

    def resolve() -> None:
        if future.done():  # the request was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(resolve)


class Deliveries:
    """Remembers accepted webhook-ids in the ledger, so the answer survives restarts.

    Two identical deliveries at once: in one process the second waits on a lock for the first; across intake
    processes the ledger row is a claim, and the second waits (up to ``wait_s``) for the claim to settle, then
    answers 409 with Retry-After. A claim left by a crashed intake goes stale after ``wait_s`` and is taken over.
    """

    def __init__(self, ledger: Ledger, wait_s: float, retry_after_s: int) -> None:
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s
        self.writer = LedgerWriter(ledger, stale_after_s=wait_s)
        self.locks = KeyedLocks()

    async def claim(self, source: str, delivery_id: str, answer: str) -> JSONResponse | None:
        """None when this request is to publish; else the answer given before. ``answer`` is what this request
        answers once Kafka has its report."""
        deadline = time.monotonic() + self._wait_s
        while True:
            try:
                earlier = await self.writer.claim(DeliveryClaim(source, delivery_id, answer))
            except SQLAlchemyError:
                raise Problem(
                    503,
                    "unavailable",
                    "Try again later",
                    "the ledger is unavailable; nothing was accepted",
                    headers={"Retry-After": str(self._retry_after_s)},
                ) from None
            if earlier is None:
                return None
            if earlier != PENDING:
                return JSONResponse(json.loads(earlier), status_code=202)
            if time.monotonic() > deadline:
                raise Problem(
                    409,
                    "delivery-in-progress",
                    "Same delivery in progress",
                    "a request with this webhook-id is being processed; retry to get its answer",
                    headers={"Retry-After": "1"},
                )
            await asyncio.sleep(0.05)

    def accept(self, source: str, delivery_id: str) -> None:
        self.writer.accept((source, delivery_id))

    async def release(self, source: str, delivery_id: str) -> None:
        await self.writer.release((source, delivery_id))

    def close(self) -> None:
        self.writer.close()
