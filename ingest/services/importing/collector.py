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

from ingest.services.importing.interpreter import WhileAnyInside

# Allocations between two collections of the young generation while an import runs (default 700).
IMPORT_GC_THRESHOLD = 70_000


def _raised(saved: tuple[int, ...]) -> tuple[int, ...]:
    if not saved[0]:  # 0: the collector is off, and stays so
        return saved
    return (max(saved[0], IMPORT_GC_THRESHOLD), *saved[1:])


# Process-wide while any caller is inside; the thresholds come back when the last one leaves.
fewer_collections = WhileAnyInside(gc.get_threshold, lambda thresholds: gc.set_threshold(*thresholds), _raised)
