"""Forking workers: never from a process whose other threads could hold a lock the child would inherit held."""

import os
import threading

import pytest

from breachwire.workers import Stop, run_workers


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


def test_a_workers_stop_is_set_once_its_parent_is_gone() -> None:
    assert not Stop(parent=os.getppid()).is_set()
    orphaned = Stop(parent=os.getppid() + 1)  # (its parent was another process: the one it had is gone)
    assert orphaned.is_set()
    assert orphaned.is_set()  # and stays set


def test_a_stop_is_set_by_a_signal_alone_without_a_parent_to_watch() -> None:
    stop = Stop()
    assert not stop.is_set()
    stop.set()
    assert stop.is_set()
