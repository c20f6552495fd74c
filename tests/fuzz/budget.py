"""The fuzzing suite's budget and its count of cases, per target.

Every target runs a fixed number of generated cases (``FUZZ_EXAMPLES``, default 40, scaled per
target by its cost), so the suite adds a bounded time to CI (about two minutes on a shared
2-core machine); ``FUZZ_EXAMPLES=1000 pytest -m fuzz`` digs deeper. Each case is counted, and the
session's summary prints how many each target ran (``tests/fuzz/conftest.py``). Under CI the cases
come from a fixed seed (``tests/conftest.py``), so a red run can be run again as it was.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

BASE_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
CASES: Counter[str] = Counter()


def budget(scale: float = 1.0) -> settings:
    """Hypothesis settings for one target: ``scale`` times the base number of cases, no deadline
    (a shared machine), fixture health checks off (the cases share a test's database and moto)."""
    return settings(
        max_examples=max(1, int(BASE_EXAMPLES * scale)),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,  # no example database on disk: CI's runs are independent
    )


def count(target: str) -> None:
    CASES[target] += 1
