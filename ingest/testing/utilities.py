"""Small utilities of the tests, the benchmarks and the demo: a free TCP port, waiting for a
condition, finding a pattern in a page."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, what: str = "condition"
) -> Any:
    """``predicate()``'s first true value, polled every ``interval`` s; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def found(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """The first match of ``pattern`` in ``text``; an AssertionError (showing the text) when there is none."""
    match = re.search(pattern, text, flags)
    assert match is not None, f"{pattern!r} not found in {text[:2000]!r}"
    return match
