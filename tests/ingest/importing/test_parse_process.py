"""A big file parsed in a second process (PostgreSQL) imports exactly what one process imports:
rows, counts, placeholders, line errors, damage, unknown fields, the outbox and the clock; a child
that dies or fails, or a source that fails under it, fails the import as one process would, and
no child outlives its import."""

from __future__ import annotations

import gzip
import os
import signal
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from ingest.models import (
    ChangeNotification,
    EnvelopeExtras,
    EventLagCount,
    ImportEventClock,
    ImportFile,
    ImportLineError,
    UnknownField,
)
from ingest.services.importing import lifecycle, parse_process, run
from ingest.services.importing.exceptions import TransientImportError
from ingest.services.importing.parse_process import ParseProcessFailed, ParseProcessLost, parsed_in_child
from ingest.services.intake.registration import register_local_file
from ingest.services.loading import prepared as prepared_module
from ingest.services.loading.batch import apply_winners
from ingest.services.loading.prepared import BatchPreparer
from ingest.testing.imports import register_and_import
from ingest.testing.samples import checked, order_event
from transforms.system_one.writer import write_record
from website.models import Customer, Order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

VOLATILE = {
    *("id", "last_import_id", "import_file_id", "attempt_id"),
    *("created_at", "updated_at", "committed_at", "delivered_at", "first_seen", "last_seen"),
}


def _order(number: str, version: int = 1, *, customer: str = "C-1", occurred: str = "2026-11-27T10:15:30.123Z", **kw):
    event = checked(order_event(number, version, customerNumber=customer, **kw))
    event["occurredAt"] = occurred
    return event


def _delete(number: str, version: int) -> dict:
    event = checked(order_event(number, version))
    event.update(eventType="delete", data=None)
    return event


def mixed_file_lines() -> list[bytes]:
    """Every kind of line, spread over batches of 7: keys repeated within and across batches
    (higher and lower versions, a tie on occurredAt broken by eventId), deletes of stored and
    unknown keys, new customers (placeholders), unknown data members and envelope members, bad
    lines, an overlong line and one that is not UTF-8."""
    events = []
    for i in range(40):
        events.append(_order(f"SO-{i % 23}", 1 + i // 23, customer=f"C-{i % 5}"))
    events.append(_order("SO-1", 1, occurred="2026-11-28T00:00:00Z"))  # stale: version 1 < 2
    events.append(_delete("SO-2", 5))
    events.append(_delete("SO-NEVER", 1))
    events.append(_order("SO-3", 9, segment={"tier": 2}))  # an unknown data member
    with_envelope = _order("SO-4", 9)
    with_envelope["traceId"] = "t-1"  # an unknown envelope member
    events.append(with_envelope)
    tie_a, tie_b = _order("SO-5", 9), _order("SO-5", 9)
    tie_a["eventId"], tie_b["eventId"] = "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
    events += [tie_a, tie_b]
    lines = [write_record(e).encode() for e in events]
    lines.insert(10, b"not a System One record\n")
    lines.insert(20, b"ORD|" + b"x" * 5_000 + b"\n")  # over INGEST_MAX_LINE_BYTES below
    lines.insert(30, b"\xff\xfe not UTF-8\n")
    return lines


def _write(tmp_path: Path, name: str, payload: bytes, *, compress: bool = True) -> Path:
    path = tmp_path / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def _import(path: Path, monkeypatch, settings, *, in_child: bool) -> tuple[ImportFile, dict, int]:
    """The file imported with or without a parse process; the file, its counts, and how many times
    the import forked a parse process."""
    settings.INGEST_PARSE_PROCESS_MIN_BYTES = 0 if in_child else -1
    forks = []
    real = parse_process.parsed_in_child

    def counted(*args, **kwargs):
        forks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(parse_process, "parsed_in_child", counted)
    f, outcome = register_and_import(path)
    return f, outcome.counts, len(forks)


def _state(f: ImportFile) -> dict:
    """What an import left behind, without ids and clocks."""

    def rows(queryset) -> list[dict]:
        return sorted(({k: v for k, v in row.items() if k not in VOLATILE} for row in queryset.values()), key=repr)

    return {
        "file": {k: getattr(f, k) for k in ("status", "lines_total", "errors_count", "error_message", "rows_created")},
        "orders": rows(Order.objects.all()),
        "customers": rows(Customer.objects.all()),
        "line_errors": rows(ImportLineError.objects.filter(import_file=f)),
        "changes": rows(ChangeNotification.objects.filter(import_file=f)),
        "unknown": rows(UnknownField.objects.all()),
        "envelopes": rows(EnvelopeExtras.objects.filter(import_file=f)),
        "clock": rows(ImportEventClock.objects.filter(import_file=f)),
        "lags": rows(EventLagCount.objects.filter(import_file=f)),
    }


def _forget_everything() -> None:
    for model in (Order, Customer, ImportFile, UnknownField):
        model.objects.all().delete()


@pytest.mark.parametrize(
    "cut",
    ["whole", "truncated", "trailing junk"],
)
def test_a_file_parsed_in_a_second_process_imports_what_one_process_imports(tmp_path, monkeypatch, settings, cut):
    settings.INGEST_BATCH_SIZE = 7
    settings.INGEST_MAX_LINE_BYTES = 1_000
    payload = gzip.compress(b"".join(mixed_file_lines()))
    if cut == "truncated":
        payload = payload[: len(payload) * 2 // 3]
    elif cut == "trailing junk":
        payload += b"this is not GZIP"
    path = tmp_path / "orders" / "mixed.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)

    f, one_process, forks = _import(path, monkeypatch, settings, in_child=False)
    assert forks == 0
    expected = _state(f)
    _forget_everything()
    f, two_processes, forks = _import(path, monkeypatch, settings, in_child=True)
    assert forks == 1

    assert two_processes == one_process
    assert _state(f) == expected
    assert one_process["placeholders_created"] == 5 and expected["line_errors"] and expected["changes"]
    if cut == "whole":  # the file holds every kind of line
        assert one_process["rows_stale"] == 2 and one_process["rows_deleted"] == 2  # SO-2, a tombstone of SO-NEVER
        assert expected["unknown"] and expected["envelopes"] and len(expected["line_errors"]) == 3
    else:
        assert "GZIP" in max(expected["line_errors"], key=lambda e: e["line_number"])["message"]


def test_a_corrupt_source_fails_the_import_as_in_one_process(tmp_path, monkeypatch, settings):
    settings.INGEST_BATCH_SIZE = 7
    payload = bytearray(gzip.compress(b"".join(mixed_file_lines())))
    payload[-8:-4] = struct.pack("<I", 12345)  # a wrong CRC: the data cannot be trusted
    path = _write(tmp_path, "corrupt.gz", bytes(payload), compress=False)

    f, _counts, _ = _import(path, monkeypatch, settings, in_child=False)
    error = f.error_message
    _forget_everything()
    f, _counts, forks = _import(path, monkeypatch, settings, in_child=True)
    assert forks == 1
    assert f.status == "failed" and f.error_message == error and "CorruptSource" in error
    assert not Order.objects.exists()


def test_a_parse_process_that_dies_is_a_transient_failure_and_the_retry_imports_the_file(
    tmp_path, monkeypatch, settings
):
    settings.INGEST_BATCH_SIZE = 7
    path = _write(tmp_path, "dies.gz", b"".join(mixed_file_lines()))
    real = BatchPreparer.prepare
    prepared = []

    def dies_on_the_third_batch(self, events):
        prepared.append(1)
        if len(prepared) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, events)

    monkeypatch.setattr(BatchPreparer, "prepare", dies_on_the_third_batch)
    with pytest.raises(TransientImportError, match="killed by signal 9"):
        _import(path, monkeypatch, settings, in_child=True)
    f = ImportFile.objects.get()
    assert f.status != "imported" and not Order.objects.exists() and not ImportLineError.objects.exists()

    monkeypatch.setattr(BatchPreparer, "prepare", real)
    outcome = run.import_file(f.pk, trigger="retry")
    assert outcome.status == "imported_with_errors"
    assert Order.objects.count() == 24  # SO-0..SO-22, and the tombstone of SO-NEVER


def test_a_database_error_mid_file_ends_the_parse_process_while_the_error_lives_on(tmp_path, monkeypatch, settings):
    """The import stops at the failing batch and its parse process is gone (killed, reaped) as the
    error leaves the loop, even while the error and its traceback (which holds the loop's frame)
    are kept, as a task's retry or a log handler may keep them; the file is then failed, with
    nothing of it loaded."""
    settings.INGEST_BATCH_SIZE = 7
    settings.INGEST_PARSE_PROCESS_MIN_BYTES = 0
    path = _write(tmp_path, "db-fails.gz", b"".join(mixed_file_lines()))
    pids = _spy_fork(monkeypatch)
    real = apply_winners
    applied = []

    def fails_on_the_second_batch(*args, **kwargs):
        applied.append(1)
        if len(applied) == 2:
            raise DatabaseError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepared_module, "apply_winners", fails_on_the_second_batch)  # where apply_prepared calls it
    f, _ = register_local_file(path)
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        claimed = lifecycle.claim(f.pk)
        attempt = lifecycle.start_attempt(claimed, trigger="test", task_id="", dry_run=False, started=timezone.now())
        run._import_lines(claimed, attempt)
    assert caught.value.__traceback__ is not None
    assert len(pids) == 1 and _child_gone(pids[0])

    applied.clear()
    outcome = run.import_file(f.pk, trigger="test")
    assert outcome.status == "failed" and len(pids) == 2 and _child_gone(pids[1])
    assert not Order.objects.exists()


# --- the module on its own -----------------------------------------------------------------------------


class _Batch:
    def __init__(self, events: list) -> None:
        self.events = events
        self.prepared = None


def _lines_of(stream) -> Iterator[_Batch]:
    """Batches of two lines: what the child reads from the feed."""
    held = b""
    while chunk := stream.read(5):
        held += chunk
    lines = held.splitlines()
    for start in range(0, len(lines), 2):
        yield _Batch(lines[start : start + 2])
    yield _Batch([parse_process.source_damage(stream).encode()])


class _Stream:
    def __init__(self, data: bytes, *, fail_after: int | None = None, damage: str = "") -> None:
        self.data, self.fail_after, self.damage, self.reads = data, fail_after, "", 0
        self._damage = damage

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise ConnectionResetError("the source went away")
        chunk, self.data = self.data[:3], self.data[3:]
        if not chunk:
            self.damage = self._damage
        return chunk


def _child_gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _spy_fork(monkeypatch) -> list[int]:
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def test_the_child_parses_what_the_feeder_reads_and_hands_back_the_damage_and_its_result(monkeypatch):
    pids = _spy_fork(monkeypatch)
    finished: list[str] = []
    batches = list(
        parsed_in_child(
            _Stream(b"a\nbb\nccc\n", damage="GZIP truncated"),
            _lines_of,
            lambda events: [e.upper() for e in events],
            lambda: "tally",
            finished.append,
        )
    )
    assert [b.prepared for b in batches] == [[b"A", b"BB"], [b"CCC"], [b"GZIP TRUNCATED"]]
    assert all(b.events == [] for b in batches)
    assert finished == ["tally"]
    assert _child_gone(pids[0])


def test_a_source_that_fails_under_the_child_raises_its_own_error(monkeypatch):
    pids = _spy_fork(monkeypatch)
    with pytest.raises(ConnectionResetError, match="the source went away"):
        list(parsed_in_child(_Stream(b"a\n" * 100, fail_after=4), _lines_of, list, lambda: None, print))
    assert _child_gone(pids[0])


def test_an_error_in_the_child_is_raised_with_its_traceback(monkeypatch):
    def prepare(events):
        raise ValueError("a bug in the child")

    with pytest.raises(ParseProcessFailed, match=r"ValueError: a bug in the child(.|\n)*Traceback"):
        list(parsed_in_child(_Stream(b"a\nb\n"), _lines_of, prepare, lambda: None, print))


def test_a_sigterm_to_the_whole_group_leaves_the_child_parsing():
    """A warm shutdown's SIGTERM (systemd signals the worker's whole cgroup) or a terminal's Ctrl-C
    reaches the child too: it goes on, and the importer ends the file (or ends it)."""

    def prepare(events):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        return [e.upper() for e in events]

    batches = list(parsed_in_child(_Stream(b"a\nbb\nccc\n"), _lines_of, prepare, lambda: "done", print))
    assert [b.prepared for b in batches] == [[b"A", b"BB"], [b"CCC"], [b""]]


def test_a_child_killed_is_a_transient_loss(monkeypatch):
    def prepare(events):
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ParseProcessLost, match="killed by signal 9"):
        list(parsed_in_child(_Stream(b"a\nb\n"), _lines_of, prepare, lambda: None, print))


def test_an_import_that_stops_early_kills_and_reaps_its_child(monkeypatch):
    pids = _spy_fork(monkeypatch)
    batches = parsed_in_child(_Stream(b"a\n" * 10_000), _lines_of, list, lambda: None, print)
    next(batches)
    batches.close()  # the database failed: the import leaves the loop
    assert _child_gone(pids[0])


def test_only_big_files_on_postgresql_take_a_second_process(settings):
    settings.INGEST_PARSE_PROCESS_MIN_BYTES = 1000
    assert parse_process.wanted(1000, postgres=True)
    assert not parse_process.wanted(999, postgres=True)
    assert not parse_process.wanted(None, postgres=True)
    assert not parse_process.wanted(10**9, postgres=False)
    settings.INGEST_PARSE_PROCESS_MIN_BYTES = -1
    assert not parse_process.wanted(10**9, postgres=True)
