"""Loops that share a handler take turns at it, first come first served."""

import threading

from runtime.consumer import Turns


def test_a_loop_waiting_for_its_turn_gets_the_next_one() -> None:
    turns = Turns()
    busy_turns = 0
    started = threading.Event()
    stop = threading.Event()

    def busy() -> None:  # batch after batch, asking again the moment a turn ends
        nonlocal busy_turns
        while not stop.is_set():
            with turns.turn():
                busy_turns += 1
                started.set()
                threading.Event().wait(0.002)

    thread = threading.Thread(target=busy)
    thread.start()
    waits = []
    try:
        started.wait(10)
        for _ in range(20):
            asked_at = busy_turns
            with turns.turn():
                waits.append(busy_turns - asked_at)
            threading.Event().wait(0.001)
    finally:
        stop.set()
        thread.join()

    # Each time, the busy loop finished the turn it held (and at most one it had queued for): never more.
    assert max(waits) <= 2, waits


def test_one_turn_at_a_time() -> None:
    turns = Turns()
    inside = 0
    most = 0
    lock = threading.Lock()

    def take() -> None:
        nonlocal inside, most
        for _ in range(200):
            with turns.turn():
                with lock:
                    inside += 1
                    most = max(most, inside)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most == 1
