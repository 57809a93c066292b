"""A ledger call waits out PostgreSQL restarting (``while_unreachable``), on a server of the test's own that it
stops and starts: the notifier records a batch it has sent once the ledger is back, rather than exiting and
sending the batch again after a restart."""

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from breachwire.dev.postgres import LocalPostgres
from runtime.store import Ledger
from runtime.store.db import while_unreachable

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb")),
        reason="PostgreSQL's server binaries (initdb, pg_ctl) are not installed",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres() -> Iterator[LocalPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="breachwire-unreachable-"))
    folder.chmod(0o755)  # (pytest's own folders are closed to PostgreSQL's user, who owns the data inside)
    pg = LocalPostgres(folder / "pg", free_port()).init()
    pg.start()
    pg.create_database()
    yield pg
    pg.remove()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_ledger_call_waits_out_postgresql_stopped_and_started_again(postgres: LocalPostgres) -> None:
    ledger = Ledger.connect(postgres.url)
    assert ledger.delivery.notice_states(["ntc_1"]) == {}  # a pooled connection, cut by the stop
    postgres.stop()
    restart = threading.Timer(3.0, postgres.start)
    restart.start()
    started = time.monotonic()
    try:
        assert while_unreachable(lambda: ledger.delivery.notice_states(["ntc_1"]), 60, "test") == {}
    finally:
        restart.join()
    assert time.monotonic() - started >= 2.5  # it waited for the server, it did not answer from elsewhere
    ledger.close()


def test_an_outage_longer_than_the_wait_raises_the_databases_error(postgres: LocalPostgres) -> None:
    ledger = Ledger.connect(postgres.url)
    postgres.stop()
    started = time.monotonic()
    with pytest.raises(OperationalError):
        while_unreachable(lambda: ledger.delivery.notice_states(["ntc_1"]), 2, "test")
    assert time.monotonic() - started < 10
    ledger.close()


def test_other_errors_are_not_waited_on(postgres: LocalPostgres) -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not the database's")

    with pytest.raises(ValueError):
        while_unreachable(broken, 60, "test")
    assert calls == [1]
