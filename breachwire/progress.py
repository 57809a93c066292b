"""Progress of long CLI work (a data map import, a replay of every dead notice, an evidence export), as one line
on stderr rewritten in place: ``replaying dead notices: 1,200/5,000 (24%)``.

Only when stderr is a terminal: in logs, pipes and tests nothing is written, so output stays what it was.
"""

import sys
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TextIO, TypeVar

T = TypeVar("T")

EVERY_S = 0.1  # a terminal redrawn ten times a second is live enough, and costs nothing next to the work


class Progress:
    def __init__(self, what: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self.shown = self._stream.isatty()
        self._drawn = 0.0
        self._width = 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.shown and time.monotonic() - self._drawn >= EVERY_S:
            self._draw()

    def over(self, items: Iterable[T]) -> Iterator[T]:
        """The items, one advance each as it is taken."""
        for item in items:
            yield item
            self.advance()

    def _draw(self) -> None:
        text = f"{self.what}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,} ({self.done * 100 // self.total}%)"
        self._stream.write("\r" + text.ljust(self._width))  # (padded over a longer line drawn before)
        self._stream.flush()
        self._width = len(text)
        self._drawn = time.monotonic()

    def close(self) -> None:
        """Draw the final count and end the line (what the command prints next starts on a line of its own);
        nothing when nothing was counted."""
        if self.shown and self.done:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
