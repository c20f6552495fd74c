"""Progress of a long command: a tqdm bar on a terminal (done/total, rate, ETA), plain log lines
otherwise, on stderr (stdout redirected, a cron job, ``--json``).

Services never import this: they take a callback, ``progress(n)`` "n more done", and the command
hands them ``Progress.advance`` (and ``Progress.set_total`` where the total is known only once the
service has started: a snapshot's header). Used by ``reimport``, ``redrive``, ``import_file``,
``reconcile``, ``adopt_field`` and ``prune``::

    with Progress(self, total=len(ids), unit="file", desc="reimport", plain=opts["json"]) as progress:
        reimport_files(files, progress=progress.advance)
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from tqdm import tqdm

LOG_EVERY_SECONDS = 10.0


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A bar on stderr when the command's stdout is a terminal and not ``plain``; else one plain
    line on stderr every ``every`` seconds and one at the end. ``total`` None: no ETA."""

    def __init__(
        self,
        command: Any = None,
        *,
        total: int | None,
        unit: str = "file",
        desc: str = "",
        plain: bool = False,
        every: float = LOG_EVERY_SECONDS,
        bar_file: TextIO | None = None,
        unit_scale: bool = False,
    ) -> None:
        out = getattr(getattr(command, "stdout", None), "_out", None) or sys.stdout
        err = getattr(getattr(command, "stderr", None), "_out", None) or sys.stderr
        self._err: TextIO = err
        self.total = total
        self.unit = unit
        self.desc = desc
        self.every = every
        self.done = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_log = self._started
        self._bar: tqdm | None = None
        if not plain and _is_terminal(out):
            self._bar = tqdm(
                total=total,
                unit=unit,
                desc=desc or None,
                file=bar_file or err,
                dynamic_ncols=True,
                unit_scale=unit_scale,
                leave=True,
            )

    @property
    def is_bar(self) -> bool:
        return self._bar is not None

    def set_total(self, total: int | None) -> None:
        """The total, once the service knows it (a snapshot's header, a count made after the start)."""
        with self._lock:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()

    def advance(self, n: int = 1) -> None:
        """``n`` more done; safe from another thread (the importer's reader)."""
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)
                return
            now = time.monotonic()
            if now - self._last_log >= self.every:
                self._last_log = now
                self._print(self.line(now))

    def line(self, now: float | None = None) -> str:
        """``reimport: 1,200/10,000 files (12%), 85.3 files/s, ETA 01:43``."""
        elapsed = max(1e-9, (now or time.monotonic()) - self._started)
        rate = self.done / elapsed
        units = self.unit if self.unit == "B" else f"{self.unit}s"
        if self.total:
            eta = tqdm.format_interval((self.total - self.done) / rate) if rate > 0 else "?"
            where = f"{self.done:,}/{self.total:,} {units} ({100 * self.done / self.total:.0f}%)"
            return f"{self.desc}: {where}, {rate:,.1f} {units}/s, ETA {eta}"
        return f"{self.desc}: {self.done:,} {units}, {rate:,.1f} {units}/s, {tqdm.format_interval(elapsed)} so far"

    def _print(self, line: str) -> None:
        self._err.write(line + "\n")
        self._err.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.done:
            self._print(f"{self.line()} (done)")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
