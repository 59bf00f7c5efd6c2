"""Progress lines in the task log for long steps (the CITES release download, the CITES ingest):
amount done, percent, and rate, at most one line per ``INTERVAL`` seconds plus a closing line,
so a 1 GB download or a 23-million-row ingest shows it is alive without flooding the log."""
from __future__ import annotations

import logging
import time

#: seconds between two progress lines of one step
INTERVAL = 30.0
MB = 1 << 20
log = logging.getLogger("mea.progress")


def _own_handler(logger: logging.Logger) -> None:
    """Progress goes to stderr at INFO through its own handler: the embedded default runs Airflow at
    WARNING (Makefile), whose handlers would drop these lines, and a task's stderr is in its log."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s progress %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


_own_handler(log)


class Progress:
    """Counts ``amount`` (in ``unit``, shown divided by ``scale``) and ``parts`` of ``total``
    (percent done); logs a line when ``INTERVAL`` seconds passed since the last one."""

    def __init__(self, step: str, unit: str, total: int | None = None, *, scale: int = 1,
                 interval: float | None = None, clock=time.monotonic):
        self.step, self.unit, self.total, self.scale = step, unit, total, scale
        self.interval = INTERVAL if interval is None else interval
        self.clock = clock
        self.amount = self.parts = 0
        self.started = self.last = clock()

    def advance(self, amount: int, parts: int | None = None) -> None:
        """Add ``amount`` done (and ``parts`` of the total, by default the same)."""
        self.amount += amount
        self.parts += amount if parts is None else parts
        if self.clock() - self.last >= self.interval:
            self.last = self.clock()
            log.info("%s", self.line())

    def finish(self) -> None:
        log.info("%s (done)", self.line())

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        done = f"{self.amount / self.scale:,.0f} {self.unit}"
        percent = f" ({100 * self.parts / self.total:.0f}%)" if self.total else ""
        return f"{self.step}: {done}{percent}, {self.amount / self.scale / elapsed:,.1f} {self.unit}/s"
