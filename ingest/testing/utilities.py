"""Small utilities of the tests, the benchmarks and the demo: a free TCP port, waiting for a
condition."""

from __future__ import annotations

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
