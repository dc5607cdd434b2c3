"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(function: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``function``, in seconds (the least disturbed by other work).

    Example:
        >>> best_of(lambda: None, 3) >= 0
        True
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best
