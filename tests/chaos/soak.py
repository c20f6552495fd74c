"""The soak's moving parts: the events sender, the fault schedule and its injector, and the
recovery figures. The test (``test_soak.py``) wires them to the pipeline and checks the end state.

Recovery of one fault, measured from its injection ``t0``:

* consumer killed, SQS down: until the consumer serves again, i.e. the first file registered
  after the fault ended (the consumer restarted, SQS answering);
* everything else (a worker, Redis or PostgreSQL killed, S3 failing): until every file that was
  pending or running at ``t0`` is imported (for a worker holding a file, that file); with no file
  in flight at ``t0``, until the next successful import commit after the fault ended.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import OperationalError, close_old_connections, connection

from ingest.demo.sending import ApiClient, request_of
from ingest.models import ImportFile, ImportStatus

IN_FLIGHT = (ImportStatus.PENDING, ImportStatus.RUNNING)


def retrying(query: Callable, attempts: int = 60, pause: float = 0.5):
    """Run an ORM query from the test process, riding out a PostgreSQL restart."""
    for attempt in range(attempts):
        try:
            return query()
        except OperationalError:
            close_old_connections()
            connection.close()
            if attempt == attempts - 1:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


@dataclass
class Fault:
    kind: str
    t0: float  # injected (wall clock, as the processes' timestamps)
    t_end: float = 0.0  # the faulted part is back (restarted, answering)
    in_flight: list[int] = field(default_factory=list)
    detail: str = ""
    recovery: float | None = None

    @property
    def outage(self) -> float:
        return max(0.0, self.t_end - self.t0)


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Sender:
    """Posts events to the local import API from ``threads`` threads: ``main_share`` of them at a
    steady rate over ``seconds``, then the rest one every ``trickle`` seconds until ``until`` is set
    (the fault schedule is done: its last faults still see traffic), then what is left at once."""

    client: ApiClient
    events: list[dict]
    seconds: float
    until: threading.Event
    threads: int = 2
    main_share: float = 0.85
    trickle: float = 0.25
    accepted: list[dict] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _post(self, event: dict) -> None:
        stream, body = request_of(event)
        status: int | str
        try:
            status, _ = self.client.post(stream, body)
        except OSError as exc:
            status = type(exc).__name__
        with self._lock:
            if status == 200:
                self.accepted.append(event)
            else:
                self.refused[str(status)] += 1

    def run(self) -> None:
        main = int(len(self.events) * self.main_share)
        interval = self.seconds / max(1, main)
        started = time.monotonic()
        cursor = iter(enumerate(self.events[:main]))

        def send() -> None:
            while True:
                with self._lock:
                    item = next(cursor, None)
                if item is None:
                    return
                n, event = item
                delay = started + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self._post(event)

        workers = [threading.Thread(target=send, name=f"soak-sender-{i}") for i in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rest = self.events[main:]
        while rest and not self.until.wait(self.trickle):
            self._post(rest.pop(0))
        for event in rest:
            self._post(event)


# --- faults -------------------------------------------------------------------------------------


class Injector:
    """Runs the fault schedule against a ChaosPipeline (see conftest) until ``stop`` is set."""

    def __init__(self, pipeline, *, schedule: list[str], gap: float, s3_window: float, sqs_window: float, seed: int):
        self.p = pipeline
        self.schedule = schedule
        self.gap = gap
        self.s3_window = s3_window
        self.sqs_window = sqs_window
        self.rng = random.Random(seed)  # which worker to kill: reproducible
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.stop = threading.Event()  # end early (the test failed)
        self.done = threading.Event()  # the schedule has run

    # processes ---------------------------------------------------------------------------------
    def workers(self):
        return [proc for proc in self.p.processes if proc.name.startswith("e2e-") and proc.proc.poll() is None]

    def consumers(self):
        return [proc for proc in self.p.processes if proc.name == "consumer" and proc.proc.poll() is None]

    def _sigkill(self, proc) -> None:
        """SIGKILL to the whole process group (a worker's pool children too), and forget it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.proc.wait(10)
        proc.stop()  # closes its log
        self.p.processes.remove(proc)

    # one fault ---------------------------------------------------------------------------------
    def _snapshot(self) -> list[int]:
        return retrying(lambda: list(ImportFile.objects.filter(status__in=IN_FLIGHT).values_list("pk", flat=True)))

    def _wait_for_running_import(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            if retrying(lambda: ImportFile.objects.filter(status=ImportStatus.RUNNING).exists()):
                return
            time.sleep(0.02)

    def inject(self, kind: str) -> Fault:
        if kind == "worker":
            self._wait_for_running_import()  # most kills then catch a worker in the middle of a file
        fault = Fault(kind, time.time())
        fault.in_flight = self._snapshot()  # after t0: a file that finishes meanwhile counts from t0
        if kind == "worker":
            victim = self.rng.choice(self.workers())
            fault.detail = victim.name
            self._sigkill(victim)
            fault.t_end = time.time()
            self.p.start_worker()
        elif kind == "consumer":
            for victim in self.consumers():
                self._sigkill(victim)
            fault.t_end = time.time()
            self.p.start_consumer()
        elif kind == "redis":
            self._sigkill(self.p.redis)
            self.p.start_private_redis()
            fault.t_end = time.time()
        elif kind == "postgres":
            self.p.postgres.restart(down_seconds=1.0)
            fault.t_end = time.time()
            connection.close()
        elif kind.startswith("s3-"):
            mode = kind.removeprefix("s3-")
            options = {"status": 503} if mode == "error" else {"delay": 3.0} if mode == "delay" else {}
            self.p.s3_proxy.set_mode(mode, only=("GET",), **options)
            self.stop.wait(self.s3_window)
            self.p.s3_proxy.passthrough()
            fault.t_end = time.time()
        elif kind == "sqs":
            self.p.sqs_proxy.set_mode("error", status=503)
            self.stop.wait(self.sqs_window)
            self.p.sqs_proxy.passthrough()
            fault.t_end = time.time()
        else:
            raise ValueError(kind)
        self.faults.append(fault)
        return fault

    def run(self) -> None:
        try:
            for kind in self.schedule:
                if self.stop.wait(self.gap):
                    break
                try:
                    self.inject(kind)
                except Exception as exc:  # reported by the test; the soak goes on
                    self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        finally:
            self.p.s3_proxy.passthrough()
            self.p.sqs_proxy.passthrough()
            self.done.set()
            connection.close()


# --- figures ------------------------------------------------------------------------------------


def measure_recoveries(faults: list[Fault]) -> None:
    """Fill in ``Fault.recovery`` from the import history (see the module docstring)."""
    files = {
        pk: (created.timestamp(), finished.timestamp() if finished else None, status)
        for pk, created, finished, status in ImportFile.objects.values_list("pk", "created_at", "finished_at", "status")
    }
    commits = sorted(f for _, f, status in files.values() if f is not None and status == ImportStatus.IMPORTED)
    registrations = sorted(c for c, _, _ in files.values())
    for fault in faults:
        if fault.kind in {"consumer", "sqs"}:
            after = [c for c in registrations if c >= fault.t_end]
            fault.recovery = after[0] - fault.t0 if after else None
            continue
        caught = [files[pk][1] for pk in fault.in_flight if pk in files]
        finished = [f for f in caught if f is not None]
        if caught and len(finished) == len(caught):
            fault.recovery = max(0.0, max(finished) - fault.t0)
        elif caught:
            fault.recovery = None  # never imported: the test fails on it anyway
        else:
            after = [c for c in commits if c >= fault.t_end]
            fault.recovery = after[0] - fault.t0 if after else None


def report(faults: list[Fault], origin: float) -> str:
    """Per fault one line (when, how long it was out, files in flight, recovery), then per kind."""
    lines = [f"{'at s':>6} {'fault':<12} {'detail':<14} {'outage s':>9} {'in flight':>9} {'recovery s':>10}"]
    for f in faults:
        recovery = f"{f.recovery:.2f}" if f.recovery is not None else "-"
        lines.append(
            f"{f.t0 - origin:>6.1f} {f.kind:<12} {f.detail:<14} {f.outage:>9.2f} {len(f.in_flight):>9} {recovery:>10}"
        )
    lines.append("")
    lines += [f"{'fault':<12} {'n':>3} {'outage s':>9} {'recovery p50 s':>15} {'max s':>7}"]
    kinds: dict[str, list[Fault]] = {}
    for fault in faults:
        kinds.setdefault(fault.kind, []).append(fault)
    for kind, items in kinds.items():
        values = [f.recovery for f in items if f.recovery is not None]
        outage = statistics.median(f.outage for f in items)
        p50 = f"{statistics.median(values):.2f}" if values else "-"
        top = f"{max(values):.2f}" if values else "-"
        lines.append(f"{kind:<12} {len(items):>3} {outage:>9.2f} {p50:>15} {top:>7}")
    return "\n".join(lines)
