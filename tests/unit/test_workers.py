"""Forking workers: never from a process whose other threads could hold a lock the child would inherit held."""

import threading

import pytest

from breachwire.workers import run_workers


def test_workers_are_not_forked_while_another_thread_runs() -> None:
    release = threading.Event()
    busy = threading.Thread(target=release.wait, name="busy-thread")
    busy.start()
    try:
        with pytest.raises(RuntimeError, match="busy-thread"):
            run_workers(2, lambda index, stop: None)
    finally:
        release.set()
        busy.join()
