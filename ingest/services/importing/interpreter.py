"""An interpreter-wide setting changed while any import is inside, put back when the last leaves.

Imports run side by side in one process (threads of a worker, tests), and the interpreter has one
switch interval and one set of collector thresholds: the first import in changes the setting,
the last one out restores what it found. ``gil`` and ``collector`` use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class WhileAnyInside(Generic[T]):
    """``read`` and ``write`` the setting; ``change`` gives the value to use from the one found."""

    def __init__(self, read: Callable[[], T], write: Callable[[T], object], change: Callable[[T], T]) -> None:
        self._read, self._write, self._change = read, write, change
        self._lock = threading.Lock()
        self._users = 0
        self._saved: T | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = self._read()
                self._write(self._change(self._saved))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._write(self._saved)  # type: ignore[arg-type]
