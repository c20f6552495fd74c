"""The fuzzing suite: every test here is marked ``fuzz``; the session ends with the number of
cases each target ran."""

from __future__ import annotations

import pytest

from tests.fuzz.budget import BASE_EXAMPLES, CASES
from tests.ingest.local.conftest import local_firehose  # noqa: F401 - the API target's fixture (s3 and bucket are global)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "fuzz: generated hostile input at every entry point (tests/fuzz/)")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if "/tests/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not CASES:
        return
    terminalreporter.section(f"fuzzing: cases run per target (FUZZ_EXAMPLES={BASE_EXAMPLES})")
    for target, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{target:<40} {n:>6}")
    terminalreporter.write_line(f"{'total':<40} {sum(CASES.values()):>6}")
