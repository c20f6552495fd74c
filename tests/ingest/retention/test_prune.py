"""Pruning (ingest/services/retention/prune.py, ``manage.py prune``): each kind goes after its own
retention, in batches, and an imported file leaves its ledger entry and its aggregates."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ingest.management.commands.prune import parse_age
from ingest.models import (
    ChangeNotification,
    ErrorOutputFile,
    EventLagCount,
    FailedRecord,
    FailedRecordStatus,
    ImportAttempt,
    ImportEventClock,
    ImportFile,
    ImportLedgerEntry,
    ImportLineError,
    ImportStatus,
    StatsPeriod,
    StreamStats,
    UnreadableMessage,
)
from ingest.services.observing import rollup
from ingest.services.retention import prune as retention
from tests.ingest.admin.factories import imported_file, write_orders_file
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def age(f: ImportFile, days: float) -> None:
    """Move a file and everything it wrote ``days`` into the past."""
    then = timezone.now() - timedelta(days=days)
    ImportFile.objects.filter(pk=f.pk).update(created_at=then, finished_at=then + timedelta(seconds=2))
    ImportAttempt.objects.filter(import_file=f).update(started_at=then, finished_at=then + timedelta(seconds=2))
    ImportLineError.objects.filter(import_file=f).update(created_at=then)
    ImportEventClock.objects.filter(import_file=f).update(committed_at=then + timedelta(seconds=2))
    EventLagCount.objects.filter(import_file=f).update(committed_at=then + timedelta(seconds=2))
    ChangeNotification.objects.filter(import_file=f).update(created_at=then, delivered_at=then)


@pytest.fixture
def files(tmp_path):
    """Four imported files (each with a bad line): 100, 40 and 10 days old, and one of today."""
    made: dict[str, ImportFile] = {}
    for name, days in (("old", 100), ("month", 40), ("week", 10), ("today", 0)):
        f = imported_file(write_orders_file(tmp_path, name, seed=len(made) + 1))
        assert f.status == ImportStatus.IMPORTED_WITH_ERRORS
        if days:
            age(f, days)
            f.refresh_from_db()
        made[name] = f
    return made


def test_each_kind_goes_after_its_own_retention(files, settings):
    old, month, week, today = (files[n] for n in ("old", "month", "week", "today"))
    assert ChangeNotification.objects.filter(import_file=old).exists()
    assert EventLagCount.objects.filter(import_file=old).exists()
    orders_before = Order.objects.count()

    report = retention.prune(pause=0, batch_size=1)

    # 90 days: only the old file is gone, with everything it wrote; the ledger remembers it.
    assert set(ImportFile.objects.values_list("pk", flat=True)) == {month.pk, week.pk, today.pk}
    for model in (ImportAttempt, ImportLineError, ImportEventClock, EventLagCount, ChangeNotification):
        assert not model.objects.filter(import_file_id=old.pk).exists(), model
    entry = ImportLedgerEntry.objects.get()
    assert (entry.bucket, entry.key, entry.etag, entry.import_file_id) == (old.bucket, old.key, old.etag, old.pk)
    assert (entry.stream, entry.status, entry.imported_at) == ("orders", old.status, old.finished_at)
    assert (entry.lines_total, entry.rows_created, entry.errors_count) == (
        old.lines_total,
        old.rows_created,
        old.errors_count,
    )
    # 30 days: the month-old file keeps its row and counts, not its attempts, bad lines or outbox.
    assert not ImportAttempt.objects.filter(import_file=month).exists()
    assert not ImportLineError.objects.filter(import_file=month).exists()
    assert not ChangeNotification.objects.filter(import_file=month).exists()
    assert ImportFile.objects.get(pk=month.pk).errors_count == month.errors_count
    # Younger: untouched.
    for f in (week, today):
        assert ImportAttempt.objects.filter(import_file=f).exists()
        assert ImportLineError.objects.filter(import_file=f).exclude(raw_text="").exists()
    # The website's rows stay; the ones the old file wrote still name it (its ledger entry).
    assert Order.objects.count() == orders_before
    assert report.removed["import_files"] == 1
    # The old file's went with it (files go first); the month-old file's by their own kind.
    assert report.removed["attempts"] == 1 and report.removed["line_errors"] == 1
    assert report.removed["raw_excerpts"] == 0  # kept as long as the bad lines: nothing left to blank
    assert report.batches >= 4  # one row per batch
    assert report.longest_batch_seconds > 0
    # The old file's hour is in the aggregates.
    assert StreamStats.objects.filter(period=StatsPeriod.HOUR, stream="orders", files=1).count() >= 3

    # Nothing left to do: a second run removes nothing.
    assert retention.prune(pause=0).total == 0


def test_not_pruned_failed_pending_running_undelivered_or_named_by_a_kept_redrive(files):
    old = files["old"]
    keep = {}
    for status in (ImportStatus.FAILED, ImportStatus.PENDING, ImportStatus.RUNNING):
        f = ImportFile.objects.create(bucket="b", key=f"orders/{status}", etag="e", stream="orders", status=status)
        age(f, 200)
        keep[status] = f
    undelivered = ImportFile.objects.create(bucket="b", key="orders/u", etag="e", stream="orders", status="imported")
    age(undelivered, 200)
    ChangeNotification.objects.create(import_file=undelivered, stream="orders", created_keys=["SO-1"])
    named = ImportFile.objects.create(bucket="b", key="orders/r", etag="e", stream="orders", status="imported")
    age(named, 200)
    error_file = ErrorOutputFile.objects.create(bucket="b", key="errors/orders/x", etag="x", stream="orders")
    FailedRecord.objects.create(
        error_file=error_file,
        line_number=1,
        stream="orders",
        status=FailedRecordStatus.REDRIVEN,
        redriven_in=named,
        last_redrive_at=timezone.now() - timedelta(days=10),
    )

    retention.prune(pause=0)

    assert not ImportFile.objects.filter(pk=old.pk).exists()
    for f in (*keep.values(), undelivered, named):
        assert ImportFile.objects.filter(pk=f.pk).exists(), f.key
    assert list(ImportLedgerEntry.objects.values_list("key", flat=True)) == [old.key]


def test_rejected_records_and_messages_go_90_days_after_redrive_or_receipt(db):
    now = timezone.now()
    error_file = ErrorOutputFile.objects.create(bucket="b", key="errors/orders/x", etag="x", stream="orders")
    target = ImportFile.objects.create(bucket="b", key="orders/t", etag="t", stream="orders", status="imported")

    def record(n: int, status: str, redriven_days: float | None) -> FailedRecord:
        return FailedRecord.objects.create(
            error_file=error_file,
            line_number=n,
            stream="orders",
            status=status,
            redriven_in=target if status == FailedRecordStatus.REDRIVEN else None,
            last_redrive_at=now - timedelta(days=redriven_days) if redriven_days is not None else None,
        )

    old_redriven = record(1, FailedRecordStatus.REDRIVEN, 100)
    new_redriven = record(2, FailedRecordStatus.REDRIVEN, 10)
    never = record(3, FailedRecordStatus.REJECTED, None)  # still to be fixed: kept however old
    FailedRecord.objects.filter(pk=never.pk).update(created_at=now - timedelta(days=400))
    for n, days in ((1, 100), (2, 10)):
        UnreadableMessage.objects.create(
            queue_url="q", message_id=f"m{n}", body="{}", error="bad", received_at=now - timedelta(days=days)
        )

    report = retention.prune(pause=0, kinds=("rejected_records", "unreadable_messages"))

    assert set(FailedRecord.objects.values_list("pk", flat=True)) == {new_redriven.pk, never.pk}
    assert not FailedRecord.objects.filter(pk=old_redriven.pk).exists()
    assert list(UnreadableMessage.objects.values_list("message_id", flat=True)) == ["m2"]
    assert report.removed == {"rejected_records": 1, "unreadable_messages": 1}


def test_raw_excerpts_are_blanked_when_kept_shorter_than_the_bad_lines(files, settings):
    settings.INGEST_RETAIN_LINE_ERRORS_DAYS = 60
    settings.INGEST_RETAIN_RAW_EXCERPTS_DAYS = 5
    retention.prune(pause=0, batch_size=1, kinds=("raw_excerpts", "line_errors"))
    month, week, today = files["month"], files["week"], files["today"]
    assert not ImportLineError.objects.filter(import_file=files["old"]).exists()
    for f in (month, week):
        [line] = ImportLineError.objects.filter(import_file=f)
        assert line.raw_text == "" and line.message  # the reason stays
    assert ImportLineError.objects.get(import_file=today).raw_text != ""


def test_aggregates_are_pruned_by_their_own_retention_only(db, settings, monkeypatch):
    monkeypatch.setattr(rollup, "rollup", lambda now=None, max_hours=None: (0, 0))  # no hours to add here
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for days in (800, 100):
        for period in (StatsPeriod.HOUR, StatsPeriod.DAY):
            StreamStats.objects.create(
                period=period, start=now - timedelta(days=days), stream="orders", rolled_up_at=now
            )
    retention.prune(pause=0, older_than=timedelta(0))  # --older-than leaves the aggregates to their settings
    assert sorted(StreamStats.objects.values_list("period", "start")) == sorted(
        [("day", now - timedelta(days=800)), ("day", now - timedelta(days=100)), ("hour", now - timedelta(days=100))]
    )
    settings.INGEST_RETAIN_DAILY_STATS_DAYS = 365
    retention.prune(pause=0)
    assert StreamStats.objects.filter(period="day").count() == 1


def test_a_file_is_pruned_only_once_its_hour_is_rolled_up(files, monkeypatch):
    monkeypatch.setattr(rollup, "rollup", lambda now=None, max_hours=None: (0, 0))
    retention.prune(pause=0)
    assert ImportFile.objects.filter(pk=files["old"].pk).exists()  # nothing rolled up: kept
    assert not ImportLedgerEntry.objects.exists()


def test_dry_run_counts_and_changes_nothing(files):
    before = {m: m.objects.count() for m in (ImportFile, ImportAttempt, ImportLineError, ChangeNotification)}
    report = retention.prune(dry_run=True)
    assert report.removed["import_files"] == 1
    # The 40-day-old file's attempt: the 100-day-old file's goes with the file, as in a real run.
    assert report.removed["attempts"] == 1
    assert {m: m.objects.count() for m in before} == before
    assert not ImportLedgerEntry.objects.exists() and not StreamStats.objects.exists()


def test_a_dry_run_counts_per_kind_what_the_real_run_removes(files):
    for older_than in (None, timedelta(days=20), timedelta(days=5)):
        dry = retention.prune(dry_run=True, older_than=older_than)
        # The real run rolls up first, and only rolled-up hours' files go: the dry run assumes that.
        real = retention.prune(older_than=older_than, pause=0)
        assert dry.removed == real.removed, older_than


def test_command_prints_per_kind(files):
    out = StringIO()
    call_command("prune", "--dry-run", stdout=out)
    text = out.getvalue()
    for kind in retention.KIND_NAMES:
        assert kind in text
    assert "import_files       would remove          1" in text
    assert "dry run: nothing changed" in text
    assert ImportFile.objects.count() == 4

    out = StringIO()
    call_command("prune", "--older-than", "20d", stdout=out)
    assert "import_files       removed          2" in out.getvalue()
    assert set(ImportFile.objects.values_list("pk", flat=True)) == {files["week"].pk, files["today"].pk}
    assert ImportLedgerEntry.objects.count() == 2


def test_command_refuses_a_bad_age():
    with pytest.raises(CommandError, match="not an age"):
        call_command("prune", "--older-than", "soon")
    assert parse_age("90") == timedelta(days=90)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("2w") == timedelta(weeks=2)


def test_the_sweep_prunes_when_due_and_in_a_bounded_round(files, settings, monkeypatch):
    from ingest.services.observing.periodic import periodic_jobs

    monkeypatch.setattr(retention, "PRUNE_CLOCK", retention.PruneClock())
    settings.INGEST_PRUNE_PAUSE_SECONDS = 0
    settings.INGEST_PRUNE_INTERVAL_SECONDS = 3600
    periodic_jobs()
    assert not ImportFile.objects.filter(pk=files["old"].pk).exists()
    assert ImportLedgerEntry.objects.count() == 1
    # Not due again within the interval.
    age(files["month"], 100)
    periodic_jobs()
    assert ImportFile.objects.filter(pk=files["month"].pk).exists()
    settings.INGEST_PRUNE_INTERVAL_SECONDS = 0  # off
    monkeypatch.setattr(retention, "PRUNE_CLOCK", retention.PruneClock())
    periodic_jobs()
    assert ImportFile.objects.filter(pk=files["month"].pk).exists()


@pytest.mark.postgres
def test_a_file_locked_by_an_importer_is_left_for_the_next_round(files):
    from ingest.testing.database import held_by_another_worker

    old = files["old"]
    rollup.rollup()  # before the lock: rolling up 100 days on a loaded machine outlasted the holder
    with held_by_another_worker(old.pk, hold_at_most=60):
        report = retention.prune(pause=0, kinds=("import_files",))
    assert report.removed["import_files"] == 0
    assert ImportFile.objects.filter(pk=old.pk).exists()
    assert retention.prune(pause=0, kinds=("import_files",)).removed["import_files"] == 1
