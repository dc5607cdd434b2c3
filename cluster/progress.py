"""One log line per stage step: how many done, how many failed, and the time left."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

logger = logging.getLogger("rsa_ray")


@dataclass
class StageProgress:
    """Counts a stage's finished items and logs progress at most every ``interval`` seconds.

    Example:
        >>> progress = StageProgress("rdms", total=2, interval=0.0)
        >>> progress.advance(); progress.advance(failed=True)
        >>> progress.line()
        'rdms: 2/2 done (1 failed), ETA 0s'
    """

    stage: str
    total: int
    interval: float = 5.0
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_logged: float = 0.0

    def advance(self, failed: bool = False) -> None:
        """Counts one finished item, and logs if it is time to."""
        self.done += 1
        self.failed += int(failed)
        now = time.monotonic()
        if now - self._last_logged >= self.interval or self.done == self.total:
            self._last_logged = now
            logger.info(self.line())

    def line(self) -> str:
        """The progress line."""
        elapsed = time.monotonic() - self.started
        remaining = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        failed = f" ({self.failed} failed)" if self.failed else ""
        eta = f"{remaining:.0f}s" if remaining == remaining else "?"
        return f"{self.stage}: {self.done}/{self.total} done{failed}, ETA {eta}"
