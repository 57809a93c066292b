"""Blocks every notice of a report shares, rendered once and kept: the notifier's one hand-made render path.

A report's notices carry the same incident block, deadline lines and law paragraph, in a few locales and zones.
Rendering them once per distinct input instead of once per notice saves a tenth or more of the notifier's CPU a
notice (docs/benchmarks.md); tests/unit/test_parts_cache.py holds a renderer that keeps nothing to the same text.
"""

from collections.abc import Callable
from typing import Any

PARTS_KEPT = 512  # incident blocks, deadline lines and law paragraphs kept rendered (a few per report)


class PartsCache:
    """Up to ``size`` rendered parts by key (then all forgotten at once: a new report brings new ones);
    ``size=0`` keeps nothing, which renders every part every time."""

    def __init__(self, size: int = PARTS_KEPT) -> None:
        self._size = size
        self._kept: dict[tuple[Any, ...], str] = {}

    def get(self, key: tuple[Any, ...], make: Callable[[], str]) -> str:
        if self._size == 0:
            return make()
        if key not in self._kept:
            if len(self._kept) >= self._size:
                self._kept.clear()
            self._kept[key] = make()
        return self._kept[key]
