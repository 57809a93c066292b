"""Several consumer loops run as one: a loop that fails stops the others and its error reaches the caller."""

import threading

import pytest

from runtime.consumer import run_together


class Steady:
    name = "steady"

    def __init__(self) -> None:
        self.stopped = False

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.01):
            pass
        self.stopped = True


class Failing:
    name = "failing"

    def run(self, stop: threading.Event) -> None:
        stop.wait(0.05)
        raise ConnectionError("the broker went away")


def test_a_failing_loop_stops_the_others_and_its_error_is_raised() -> None:
    steady = Steady()
    stop = threading.Event()

    with pytest.raises(ConnectionError, match="the broker went away"):
        run_together([steady, Failing()], stop)

    assert stop.is_set()
    assert steady.stopped


def test_loops_end_quietly_when_stopped() -> None:
    loops = [Steady(), Steady()]
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()

    run_together(loops, stop)

    assert all(loop.stopped for loop in loops)
