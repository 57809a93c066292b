"""One service as several worker processes, forked from one parent (the notifier's ``notify.workers``).

A notifier spends most of its CPU in one thread (httpx, templates, Kafka, the ledger), so one process uses one
core at most. Workers are members of one consumer group: Kafka shares the partitions out among them, and a
recipient's notices, keyed to one partition, stay with one worker and keep their order.

Forked, not spawned: the workers share the parent's loaded data map (frozen out of the garbage collector, so
its pages stay shared) instead of loading it once each. The parent forks before it opens any connection or
starts any thread, and refuses to fork otherwise (a thread's lock held at fork time stays held in the child).

The parent only supervises: SIGTERM or SIGINT stops every worker; a worker that dies stops the others and the
parent exits non-zero, so the supervisor above sees the service exit, as with one process. A worker whose
parent is gone (SIGKILLed) stops by itself: its loop asks its ``Stop`` between polls, which looks at its parent.
"""

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 60.0  # a worker finishes its batch (sends in flight, Kafka acks, the ledger) before it exits


class Stop:
    """Whether a process is to stop: a signal came, or (a worker's, given its parent's pid) its parent is gone."""

    def __init__(self, parent: int | None = None) -> None:
        self._set = threading.Event()
        self._parent = parent

    def set(self) -> None:
        self._set.set()

    def is_set(self) -> bool:
        if not self._set.is_set() and self._parent is not None and os.getppid() != self._parent:
            log.warning("parent gone: stopping")
            self._set.set()
        return self._set.is_set()


Work = Callable[[int, Stop], None]


def stop_on_signals(stop: Stop | threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _worker(index: int, work: Work, parent: int) -> None:
    stop = Stop(parent)
    stop_on_signals(stop)
    work(index, stop)


def run_workers(count: int, work: Work) -> int:
    """Run ``work(index, stop)`` in ``count`` forked processes until a signal or a worker's exit; the exit code."""
    if threading.active_count() > 1:
        names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        raise RuntimeError(f"cannot fork workers while threads run: {names}")
    context = multiprocessing.get_context("fork")
    parent = os.getpid()
    stop = Stop()
    stop_on_signals(stop)
    workers: list[BaseProcess] = [
        context.Process(target=_worker, args=(i, work, parent), name=f"worker-{i}") for i in range(count)
    ]
    for process in workers:
        process.start()
    log.info("workers started", workers=count, pids=[p.pid for p in workers])
    failed = False
    while not stop.is_set():
        wait([p.sentinel for p in workers], timeout=0.5)
        ended = [p for p in workers if p.exitcode is not None]
        if ended:  # (no signal came: a worker stopped by itself, which it does not do when well)
            failed = True
            log.error("a worker exited: stopping the others", exit_codes={p.name: p.exitcode for p in ended})
            break
    for process in workers:
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in workers:
        process.join(STOP_TIMEOUT_S)
        if process.exitcode is None:
            process.kill()
            process.join()
    return 1 if failed else 0
