"""Fewer runs of the cycle collector while a file is imported.

An import allocates millions of short-lived objects (lines, records, events, staging rows) that
reference counting frees as soon as a batch is written; hardly any are in cycles. With the
default thresholds the collector still scans the young generation every 700 allocations and the
older ones after it, which costs about a tenth of a large import. While any import runs the
young generation's threshold is raised: the collector runs a hundredth as often, and what it
would have found (cycles, rare here) waits at most that much longer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between two collections of the young generation while an import runs (default 700).
IMPORT_GC_THRESHOLD = 70_000

_lock = threading.Lock()
_users = 0
_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Process-wide while any caller is inside; the thresholds come back when the last one leaves."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            if _saved[0]:  # 0: the collector is off, and stays so
                gc.set_threshold(max(_saved[0], IMPORT_GC_THRESHOLD), *_saved[1:])
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_saved)
