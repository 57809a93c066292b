"""A new ledger made by the services at once: `breachwire up` and the demo start them together."""

import multiprocessing
from pathlib import Path

from support import count_by_state

from runtime.store import Ledger


def _connect(url: str, go: "multiprocessing.synchronize.Event") -> None:
    go.wait()
    Ledger.connect(url).close()


def test_services_starting_together_all_find_the_tables(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'ledger-{round_}.db'}"
        go = context.Event()
        processes = [context.Process(target=_connect, args=(url, go)) for _ in range(5)]
        for p in processes:
            p.start()
        go.set()
        for p in processes:
            p.join(60)
        assert [p.exitcode for p in processes] == [0] * 5
        ledger = Ledger.connect(url, create=False)
        assert count_by_state(ledger) == {}
        ledger.close()
