"""The data map a running service works from, read again when its folder changes.

An import adds a customers file while assess, notify and record run: without a reload, a report would miss the new
customers until someone restarted them all, and a notifier would not know a new customer's webhook secret. A thread
looks at the folder's files (names, sizes, modification times) every ``every_s`` and, when they changed, loads
the map anew with the service's own loader and every check. The service takes the map where a unit of its work
starts (``current()``), so one batch is assessed against one map. A map that does not load is logged with its
problems and the one before is kept: a half-copied file never empties the map.
"""

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from runtime.datamap.index import DataMap
from runtime.datamap.load import DataMapError, customer_files

Fingerprint = tuple[tuple[str, int, int], ...] | None


class MapSource(Protocol):
    """Where a service takes its data map from: a ``DataMap`` is its own; a ``LiveDataMap`` the latest loaded."""

    def current(self) -> DataMap: ...


def _log() -> Any:
    # bound when used, with the logging configured then: it logs once in a long while, from its own thread
    return structlog.get_logger(__name__)


def fingerprint(directory: Path) -> Fingerprint:
    """What changes when any file of the map does (None: the folder cannot be read)."""
    try:
        files = [directory / "subprocessors.toml", *customer_files(directory)]
        stats = [(f.name, f.stat()) for f in files]
        return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)
    except OSError:
        return None


class LiveDataMap:
    def __init__(self, directory: Path, load: Callable[[Path], DataMap], every_s: float, first: DataMap) -> None:
        """``first``: the map the service started with, loaded from ``directory`` by ``load``."""
        self._directory = directory
        self._load = load
        self._every_s = every_s
        self._current = first
        self._seen = fingerprint(directory)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> DataMap:
        return self._current

    def check(self) -> bool:
        """Load the map again if its files changed since the last look; True when a new map was taken."""
        now = fingerprint(self._directory)
        if now == self._seen:
            return False
        self._seen = now  # a map that does not load is not tried again until its files change again
        try:
            fresh = self._load(self._directory)
        except DataMapError as exc:
            _log().error(
                "data map changed but does not load: the one before is kept",
                directory=str(self._directory),
                problems=[str(p) for p in exc.problems[:10]],
                count=len(exc.problems),
            )
            return False
        self._current = fresh
        _log().info(
            "data map loaded again",
            directory=str(self._directory),
            subprocessors=len(fresh.subprocessors),
            customers=len(fresh.customers),
        )
        return True

    def start(self) -> "LiveDataMap":
        """Look every ``every_s`` in a thread of its own (not at all when ``every_s`` is 0)."""
        if self._every_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="datamap-reload", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # a load under way (a quarter of a minute at a million customers) is not waited for: the service stops
            # without it, and the thread, a daemon, goes with the process
            self._thread.join(timeout=1.0)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self.check()
            except Exception:  # the service goes on with the map it has; the next look tries again
                _log().exception("data map reload failed", directory=str(self._directory))
