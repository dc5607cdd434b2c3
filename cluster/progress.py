"""Progress lines of long stages: one when a stage starts, then its finished items, and batches as they run.

A stage's driver logs through :class:`StageProgress`: a line as soon as the stage starts, one per
finished item at most every ``interval`` seconds, and, while nothing finishes, a heartbeat from
:meth:`StageProgress.pulse` (the driver calls it when its wait times out). Inside a worker, where
no log handler is set up, :class:`BatchProgress` prints a model's batches to stderr, which Ray
forwards to the driver's terminal; so the first line of a long extraction comes within seconds,
not after its first model.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

logger = logging.getLogger("rsa_ray")


@dataclass
class StageProgress:
    """Counts a stage's finished items and logs progress at most every ``interval`` seconds.

    The first line (``0/N started``) is logged when the stage is created, unless ``announce`` is False.

    Example:
        >>> progress = StageProgress("rdms", total=2, interval=0.0, announce=False)
        >>> progress.advance(); progress.advance(failed=True)
        >>> progress.line()
        'rdms: 2/2 done (1 failed), ETA 0s'
    """

    stage: str
    total: int
    interval: float = 5.0
    announce: bool = True
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_logged: float = 0.0

    def __post_init__(self) -> None:
        if self.announce and self.total:
            self._last_logged = time.monotonic()
            logger.info(f"{self.stage}: 0/{self.total} started")

    def advance(self, failed: bool = False) -> None:
        """Counts one finished item, and logs if it is time to."""
        self.done += 1
        self.failed += int(failed)
        now = time.monotonic()
        if now - self._last_logged >= self.interval or self.done == self.total:
            self._last_logged = now
            logger.info(self.line())

    def pulse(self, running: int | None = None) -> None:
        """Logs that the stage is still working (with ``running`` items in flight) if nothing was logged for
        ``interval`` seconds; for a driver whose wait for the next finished item timed out.

        Example:
            >>> progress = StageProgress("extraction", total=3, interval=0.0, announce=False)
            >>> progress.pulse(running=2)  # logs 'extraction: 0/3 done, 2 running, 0s elapsed'
        """
        now = time.monotonic()
        if now - self._last_logged >= self.interval:
            self._last_logged = now
            busy = f", {running} running" if running is not None else ""
            logger.info(f"{self.stage}: {self.done}/{self.total} done{busy}, {now - self.started:.0f}s elapsed")

    def line(self) -> str:
        """The progress line."""
        elapsed = time.monotonic() - self.started
        remaining = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        failed = f" ({self.failed} failed)" if self.failed else ""
        eta = f"{remaining:.0f}s" if remaining == remaining else "?"
        return f"{self.stage}: {self.done}/{self.total} done{failed}, ETA {eta}"


@dataclass
class BatchProgress:
    """One model's batches in a worker: prints ``<stage> <model>: batch i/n`` at most every ``interval``
    seconds (and for the first and the last batch) to ``stream``, stderr by default, which Ray forwards
    to the driver.

    Example:
        >>> import io
        >>> stream = io.StringIO()
        >>> batches = BatchProgress("extraction", "depth-small", total=3, interval=60.0, stream=stream)
        >>> for _ in range(3):
        ...     batches.advance()
        >>> stream.getvalue().splitlines()
        ['extraction depth-small: batch 1/3', 'extraction depth-small: batch 3/3']
    """

    stage: str
    name: str
    total: int
    interval: float = 5.0
    stream: TextIO | None = None
    done: int = 0
    _last_logged: float | None = None

    def advance(self) -> None:
        """Counts one finished batch, and prints if it is the first, the last, or time to."""
        self.done += 1
        now = time.monotonic()
        if self._last_logged is None or now - self._last_logged >= self.interval or self.done == self.total:
            self._last_logged = now
            print(f"{self.stage} {self.name}: batch {self.done}/{self.total}", file=self.stream or sys.stderr,
                  flush=True)
