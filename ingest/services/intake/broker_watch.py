"""Which Redis holds the tasks: a broker that restarted empty has lost every task it held.

Redis without persistence, SIGKILLed and restarted (or replaced by another server in a failover),
answers again at once and empty: the tasks queued and unacknowledged are gone, and a retry that a
worker holds for its countdown can no longer be acknowledged, nor given back if that worker dies.
Their files are ``pending`` and had their task. Nothing fails on the consumer's side: its next
publish just works.

What tells is ``INFO server``'s ``run_id``: a random id each redis-server process draws at start.
The consumer reads it at each look (every INGEST_ORPHAN_CHECK_SECONDS on PostgreSQL; one round
trip) and, when it changed, rings every pending file again (``sweep.lost_with_the_broker``).

Why not "the queue is empty while files are enqueued and not started": workers prefetch, and a
task being imported, prefetched or waiting for its retry's countdown is in no list of the queue;
an empty list is the normal state of a busy pipeline, so that signal would have to guess from
timings, and a failover to a replica that had copied part of the queue would fool it. The run_id
changes when, and only when, the process that held the tasks is gone.

At the consumer's start there is no run_id to compare with: ``uptime_in_seconds`` says when the
server started, and a pending file whose task (or retry) was set before then was lost with an
earlier server.

A second task is harmless (the importer's row lock, and its check that the file is done), and a fresh task
is not a redelivery: no lost delivery is counted for it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


class BrokerWatch:
    """Reads the broker's ``run_id``; ``lost_before()`` says since when tasks were lost."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.run_id = ""
        self._lost_before: datetime | None = None

    @classmethod
    def for_broker(cls, url: str | None = None) -> BrokerWatch | None:
        """A watch on the Celery broker, or None where the broker is not a plain Redis URL."""
        url = url if url is not None else settings.CELERY_BROKER_URL
        if urlsplit(url).scheme not in ("redis", "rediss"):
            return None
        timeout = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("socket_connect_timeout", 2.0))
        return cls(url, timeout=min(timeout, 2.0))

    def _server(self) -> dict | None:
        import redis

        try:
            # redis-py's sync client answers a dict (its annotation also covers the async client).
            return cast(dict, self.client.info("server"))
        except (redis.RedisError, OSError) as exc:
            # Down or unreachable: the consumer's failing publishes tell that (and the sweep rings
            # the files they left without a task). The next look that gets an answer compares.
            logger.debug("broker watch: no answer from the broker: %s", exc)
            return None

    def lost_before(self) -> datetime | None:
        """Pending files whose task was set before this time lost it with an earlier server;
        None if nothing was lost. Stays set until ``enqueued_again()``: a sweep that failed looks again."""
        server = self._server()
        if server is None:
            return self._lost_before
        run_id = str(server.get("run_id", ""))
        now = timezone.now()
        if not self.run_id:
            # Whole seconds, rounded down: this is at or after the start (a file stamped in that
            # second gets a task it may not need, rather than none).
            started = now - timedelta(seconds=float(server.get("uptime_in_seconds", 0)))
            self._lost_before = max(self._lost_before, started) if self._lost_before else started
        elif run_id != self.run_id:
            logger.warning(
                "the broker restarted (run_id %s, was %s): its queued tasks are gone, ringing the pending files again",
                run_id[:12],
                self.run_id[:12],
            )
            # Every task set until now went to the old server or, since it came back, to the
            # new one: ring them all; those that reached the new server get a harmless second one.
            self._lost_before = now
        self.run_id = run_id
        return self._lost_before

    def enqueued_again(self) -> None:
        """The files lost with the old server have their tasks again."""
        self._lost_before = None
