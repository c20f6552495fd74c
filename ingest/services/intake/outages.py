"""One log line when something the process needs stops answering, and one when it is back.

A consumer that polls SQS, rings Redis and writes to the database every second would otherwise
log a line (or a traceback) per failed call for as long as an outage lasts."""

from __future__ import annotations

import logging
import time


class Outage:
    """The state of one dependency (``name``) as seen by this process."""

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self.logger = logger
        self.since: float | None = None
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self.failures = 0
            self.logger.warning(
                "%s unavailable: %s: %s (retrying; one line when it is back)", self.name, type(exc).__name__, exc
            )
        self.failures += 1

    def recovered(self) -> None:
        if self.since is None:
            return
        self.logger.warning(
            "%s is back after %.1fs (%d failed call(s))", self.name, time.monotonic() - self.since, self.failures
        )
        self.since = None
