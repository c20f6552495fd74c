"""Parsing a batch ahead of the database, in a second thread of the same process.

Used for an import's batches (``run``) and a reconciliation's chunks (``repair.reconcile.run``):
anything with a ``last`` attribute that says the source ends with it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Any, Protocol, TypeVar

from ingest.services.importing.gil import short_switch_interval


class _Batch(Protocol):
    last: bool


B = TypeVar("B", bound=_Batch)

_DONE = object()


def put_unless_stopped(handoff: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Put ``item`` on ``handoff``, waiting while it is full, unless ``stop`` is set first (the
    consumer has gone: nobody would take it); whether it went."""
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def read_ahead(batches: Iterator[B], depth: int = 1) -> Generator[B, None, None]:
    """Parse in a second thread while this one waits on the database.

    psycopg releases the GIL while PostgreSQL works on a batch, so parsing the next batch
    meanwhile hides most of the server time. At most ``depth`` batches wait, and the parser
    starts the next one only once this thread has taken the last: one batch ahead is enough to
    overlap the two, and each more costs a batch of memory (about 15 MB for 10,000 order
    lines). Memory stays bounded whatever the file's size. The first batch is parsed here: a file
    that fits in one batch (most files) needs no second thread.
    """
    first = next(batches, None)
    if first is None:
        return
    if first.last:
        yield first
        return
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Hand over and wait until it is taken, unless the consumer has gone (then nobody would
        ever take it)."""
        put_unless_stopped(handoff, item, stop)
        with handoff.all_tasks_done:
            while handoff.unfinished_tasks and not stop.is_set():
                handoff.all_tasks_done.wait(0.1)
        return not stop.is_set()

    def produce() -> None:
        try:
            for item in batches:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consuming thread, which raises it
            offer(exc)

    producer = threading.Thread(target=produce, name="ingest-parse", daemon=True)
    with short_switch_interval():
        producer.start()
        try:
            yield first
            while True:
                item = handoff.get()
                handoff.task_done()  # the parser may start the next batch
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            producer.join(timeout=30)
