"""Named points where a test can make a process die as SIGKILL would, to show that nothing is lost.

Honoured only when ``INGEST_TEST_CRASH_POINTS`` is on (settings refuse it in production); the point
is ``INGEST_CRASH_POINT``, read once when the settings load. The consumer's points, in the order
a message meets them:

* ``consumer:before-registration``: the message is received, nothing registered;
* ``consumer:before-enqueue``: the registration has committed, the task is not enqueued yet;
* ``consumer:before-delete``: the task is enqueued, the message not deleted yet.
"""

from __future__ import annotations

import logging
import os
import signal

from django.conf import settings

logger = logging.getLogger(__name__)

CONSUMER_POINTS = ("consumer:before-registration", "consumer:before-enqueue", "consumer:before-delete")


def crash_point(name: str) -> None:
    """Die here, at once and without cleaning up, if a test asked for this point."""
    if not settings.INGEST_CRASH_POINTS_ENABLED or name != settings.INGEST_CRASH_POINT:
        return
    logger.warning("crash point %s: killing process %s", name, os.getpid())
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
