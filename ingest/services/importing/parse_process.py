"""A big file's lines parsed in a second process, so that parsing and the database overlap without the GIL.

In one process the parse thread and the thread that waits on PostgreSQL share one interpreter
lock: parsing a line, building its staging row and encoding it are all Python, so a big file is
bound by the sum of both sides. Here the importer forks a child that parses the lines, picks
each key's winner and writes the winners' staging rows as COPY text
(``ingest.services.loading.prepared``); the importer only copies those bytes into PostgreSQL and
runs the guarded merge, while the child parses the next batch on the other core.

The child never touches the database connection, the S3 client or the source: the importer
reads the source (a feeder thread: its decompression, damage check and progress as before) and
hands the child its bytes through a pipe; the child sends back each batch (line errors, unknown
envelope members and counts included) through another, one batch ahead at most, so memory stays
bounded whatever the file's size. What the child finds wrong with a line is a line error, as in
one process; a source that fails is the importer's error (the feeder's), raised as it would be in
one process. A child that dies is a transient error: the file's transaction rolls back and the
import is retried. The child leaves with ``os._exit``: none of the importer's clean-up (its
connection's, its client's) runs twice.

Used on PostgreSQL for files of at least ``INGEST_PARSE_PROCESS_MIN_BYTES`` stored bytes, where a
fork (a few milliseconds) is small beside the parsing it moves; small files keep the thread.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from django.conf import settings

from ingest.services.importing.exceptions import TransientImportError
from ingest.services.importing.sources import source_damage
from transforms.system_one.lines import ByteReader

logger = logging.getLogger(__name__)

# Bytes the feeder reads from the source at a time (decompressed), and hands over as one message.
FEED_CHUNK = 1 << 18


class ParseProcessLost(TransientImportError):
    """The parse process ended without finishing the file (killed, out of memory): retried."""


class ParseProcessFailed(RuntimeError):
    """The parse process raised: a bug, recorded like any unexpected error of an import."""


class Batch(Protocol):
    """What the child makes of the source's lines, one batch at a time (run._ParsedBatch)."""

    events: list
    prepared: Any


def wanted(size: int | None, *, postgres: bool) -> bool:
    """Parse a file of ``size`` stored bytes (None: not known) in a second process?"""
    minimum = settings.INGEST_PARSE_PROCESS_MIN_BYTES
    return postgres and hasattr(os, "fork") and minimum >= 0 and size is not None and size >= minimum


@dataclass
class _Fed:
    """The child's side of the feed: the source's bytes as a stream (``iter_lines`` reads it) and,
    once it ends, what damage ended it (``sources.source_damage``)."""

    conn: Connection
    damage: str = ""
    ended: bool = False
    _held: bytes = b""

    def read(self, size: int = -1) -> bytes:
        while not self._held and not self.ended:
            chunk = self.conn.recv_bytes()  # EOFError: the feeder stopped (the source failed), or the importer died
            if chunk:
                self._held = chunk
            else:
                self.damage = self.conn.recv_bytes().decode()
                self.ended = True
        if size < 0 or size >= len(self._held):
            data, self._held = self._held, b""
        else:
            data, self._held = self._held[:size], self._held[size:]
        return data


class _Feeder(threading.Thread):
    """Reads the source in the importer's process and hands its bytes to the child."""

    def __init__(self, stream: ByteReader, conn: Connection) -> None:
        super().__init__(name="ingest-feed", daemon=True)
        self.stream = stream
        self.conn = conn
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while chunk := self.stream.read(FEED_CHUNK):
                self.conn.send_bytes(chunk)
            self.conn.send_bytes(b"")
            self.conn.send_bytes(source_damage(self.stream).encode())
        except BrokenPipeError:  # the child has gone; the importer finds out why
            pass
        except BaseException as exc:  # the source failed: the importer raises it
            self.error = exc
        finally:
            self.conn.close()  # without the end marker, the child stops at this point


def parsed_in_child(
    stream: ByteReader,
    batches: Callable[[Any], Iterator[Batch]],
    prepare: Callable[[list], Any],
    finished: Callable[[], Any],
    on_finished: Callable[[Any], None],
) -> Generator[Batch, None, None]:
    """The batches ``batches(stream)`` makes, made in a forked child, each with ``prepared =
    prepare(events)`` and no events; after the last, ``on_finished(finished())`` in this process
    with what ``finished`` returned in the child (the parser's tally of unknown fields)."""
    feed_read, feed_write = os.pipe()
    out_read, out_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        _only_fds(feed_read, out_write)
        _child(Connection(feed_read, writable=False), Connection(out_write, readable=False), batches, prepare, finished)
    child = _Child(pid)
    logger.info("parsing in a second process (pid %s)", pid)
    os.close(feed_read)
    os.close(out_write)
    feeder = _Feeder(stream, Connection(feed_write, readable=False))
    results = Connection(out_read, writable=False)
    try:
        feeder.start()
        while True:
            try:
                kind, payload = pickle.loads(results.recv_bytes())  # noqa: S301 - our own child's pickles
            except EOFError:
                feeder.join()
                if feeder.error is not None:
                    raise feeder.error from None
                raise ParseProcessLost(f"the parse process ended before the file did ({child.ended()})") from None
            if kind == "batch":
                yield payload
            elif kind == "done":
                on_finished(payload)
                return
            else:
                feeder.join(timeout=5)
                if feeder.error is not None:
                    raise feeder.error
                raise ParseProcessFailed(payload)
    finally:
        results.close()
        child.end()
        feeder.join(timeout=30)


class _Child:
    """The forked process, reaped exactly once (its pid may be another process's afterwards)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.reaped = False
        self.wait_status: int | None = None  # None once reaped: a SIGCHLD handler of the host took it

    def ended(self) -> str:
        """How it ended (waiting for it), for an error's message."""
        self._wait(0)
        if self.wait_status is None:
            return "its exit status was taken by another handler"
        if os.WIFSIGNALED(self.wait_status):
            return f"killed by signal {os.WTERMSIG(self.wait_status)}"
        return f"exit status {os.waitstatus_to_exitcode(self.wait_status)}"

    def end(self) -> None:
        """Gone, and reaped: killed if still there (the import stopped before the file's end)."""
        self._wait(os.WNOHANG)
        if not self.reaped:
            os.kill(self.pid, signal.SIGKILL)
            self._wait(0)

    def _wait(self, options: int) -> None:
        if self.reaped:
            return
        try:
            pid, status = os.waitpid(self.pid, options)
        except ChildProcessError:
            self.reaped = True
            return
        if pid:
            self.reaped, self.wait_status = True, status


def _only_fds(*keep: int) -> None:
    """(In the child) close every descriptor but stdio and ``keep``: another import's pipes, inherited
    from a thread of the importer's process, would keep that import's ends open."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _child(
    fed: Connection,
    out: Connection,
    batches: Callable[[Any], Iterator[Batch]],
    prepare: Callable[[list], Any],
    finished: Callable[[], Any],
) -> None:
    code = 0
    try:
        # The importer decides when this process ends (SIGKILL, or its pipes closing when it
        # goes): a SIGTERM or Ctrl-C sent to the whole group (systemd's stop of the worker's
        # cgroup, a terminal) must not cut the file the importer is finishing in a warm shutdown.
        # The importer's own handlers (a Celery worker's) are not this process's business either.
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        source = _Fed(fed)
        for batch in batches(source):
            batch.prepared = prepare(batch.events)
            batch.events = []
            out.send_bytes(pickle.dumps(("batch", batch), protocol=pickle.HIGHEST_PROTOCOL))
        out.send_bytes(pickle.dumps(("done", finished()), protocol=pickle.HIGHEST_PROTOCOL))
    except (EOFError, BrokenPipeError):
        code = 1  # the feed stopped or the importer went away: it knows why
    except BaseException as exc:
        code = 1
        try:
            message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            out.send_bytes(pickle.dumps(("error", message), protocol=pickle.HIGHEST_PROTOCOL))
        except BaseException:  # noqa: S110 - nothing left to tell it with; the importer sees the pipe close
            pass
    finally:
        os._exit(code)
