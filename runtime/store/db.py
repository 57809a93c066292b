"""What every store shares: the engine, and INSERTs that skip rows already there (ON CONFLICT, by dialect)."""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import Any, TypeVar

import structlog
from sqlalchemy import Column, Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError

log = structlog.get_logger(__name__)
T = TypeVar("T")

IN_CHUNK = 500  # values per IN (...): well under SQLite's and PostgreSQL's limits on bound parameters


class Store:
    """A store over the ledger's one engine; writes run in ``self.engine.begin()``, one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def columns(table: Table, row: type[Any]) -> list[Column[Any]]:
    """The table's columns a row dataclass has fields for, in the dataclass's order: the row names them once."""
    return [table.c[f.name] for f in fields(row)]


def dialect_insert(conn: Connection | Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The database's own INSERT, which has ON CONFLICT (both PostgreSQL and SQLite)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def insert_skipping(conn: Connection | Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that skips rows whose primary key is there already."""
    keys = [c.name for c in table.primary_key.columns]
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=keys)


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices of ``IN_CHUNK``, one IN (...) each."""
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows whose primary key is new; returns how many went in."""
    if not rows:
        return 0
    first_key = next(iter(table.primary_key.columns))
    stmt = insert_skipping(conn, table).returning(first_key)  # rowcount is not reliable for multi-row inserts
    # The rows as parameters, not in the statement: one cached statement that SQLAlchemy batches into
    # multi-row INSERTs itself ("insertmanyvalues"), where compiling the rows into the statement is slow.
    return len(conn.execute(stmt, list(rows)).all())


def insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows whose primary key is new, when how many went in does not matter: without RETURNING,
    SQLite runs the rows through the driver's own executemany (a sixth less CPU for a batch's attempts)."""
    if rows:
        conn.execute(insert_skipping(conn, table), list(rows))


def while_unreachable(call: Callable[[], T], wait_s: float, what: str) -> T:
    """``call()``, tried again while the database cannot be reached (connection refused or cut, SQLite locked),
    for up to ``wait_s`` seconds; then its error is raised. Other errors are raised at once."""
    deadline = time.monotonic() + wait_s
    pause = 0.5
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("ledger unreachable, trying again", step=what, error=type(exc.orig).__name__, in_s=pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
