"""The import task's retry policy, run in this process through Celery's ``apply``. A transient
failure's retry is recorded in the database and sent by the consumer's check (done here by hand).
The real worker process is exercised in tests/e2e."""

from __future__ import annotations

import pytest
from botocore.config import Config
from django.core.files.storage import storages
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing.exceptions import DATABASE_GONE, ImportBusy, TransientImportError
from ingest.services.intake.registration import S3Object, register_s3_object
from ingest.tasks import import_file_task, retry_ceiling, retry_countdown
from ingest.testing.database import held_by_another_worker
from ingest.testing.samples import firehose_body, firehose_key, order_events
from ingest.testing.utilities import free_port
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def put_file(s3, settings, lines: int = 5) -> ImportFile:
    key = firehose_key("orders")
    body = firehose_body(order_events(lines))
    etag = s3.put_object(Bucket=settings.INGEST_BUCKET, Key=key, Body=body)["ETag"].strip('"')
    f, _ = register_s3_object(S3Object(bucket=settings.INGEST_BUCKET, key=key, etag=etag, size=len(body)))
    return f


def run_redelivered(import_file_id: int) -> dict:
    """The task as a worker runs a message that Redis gave back (its first worker was lost)."""
    import_file_task.push_request(id="redelivered-task", retries=0, delivery_info={"redelivered": True})
    try:
        return import_file_task.run(import_file_id)
    finally:
        import_file_task.pop_request()


def test_the_task_declares_its_retry_policy_from_settings(settings):
    """Transient failures (the database's own included) are retried with exponential backoff,
    jitter above a floor and a cap; ImportBusy is not among them: it has its own fixed countdown.
    Not Celery's autoretry: its full jitter has no floor."""
    task = import_file_task
    assert set(task.retry_for) == {TransientImportError, *DATABASE_GONE}
    assert not getattr(task, "autoretry_for", ())
    assert not any(issubclass(ImportBusy, kind) for kind in task.retry_for)
    assert task.retry_backoff == settings.INGEST_RETRY_BACKOFF_SECONDS
    assert task.retry_backoff_max == settings.INGEST_RETRY_BACKOFF_MAX_SECONDS
    assert task.retry_jitter is True
    assert task.retry_backoff_floor == 0.5
    assert task.max_retries == settings.INGEST_TASK_MAX_RETRIES
    assert task.acks_late and task.reject_on_worker_lost


def test_retry_ceiling_doubles_up_to_the_cap(settings):
    """The sweep leaves a file alone until its retry is due: the longest countdown Celery may draw."""
    settings.INGEST_RETRY_BACKOFF_SECONDS = 2.0
    settings.INGEST_RETRY_BACKOFF_MAX_SECONDS = 60.0
    assert [retry_ceiling(n) for n in range(7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_retry_countdown_is_jittered_above_half_the_ceiling(settings):
    """A transient failure never retries at once: the first retry waits INGEST_RETRY_BACKOFF_SECONDS / 2
    at least (Celery's full jitter could draw 0 s each time and burn every retry in milliseconds)."""
    settings.INGEST_RETRY_BACKOFF_SECONDS = 2.0
    settings.INGEST_RETRY_BACKOFF_MAX_SECONDS = 60.0
    lowest = [retry_countdown(import_file_task, n, draw=lambda low, high: low) for n in range(7)]
    assert lowest == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    draws = [retry_countdown(import_file_task, 0) for _ in range(2000)]
    assert min(draws) >= settings.INGEST_RETRY_BACKOFF_SECONDS / 2
    assert max(draws) <= retry_ceiling(0)
    assert len({round(d, 3) for d in draws}) > 100  # still jittered


def test_success(s3, bucket, settings):
    f = put_file(s3, settings)
    result = import_file_task.apply(args=[f.pk]).get()
    assert result["status"] == "imported" and result["counts"]["rows_created"] == 5
    f.refresh_from_db()
    assert f.status == "imported" and f.attempts.get().trigger == "task"
    assert Order.objects.count() == 5
    # A second delivery of the same task is skipped.
    again = import_file_task.apply(args=[f.pk]).get()
    assert again["skipped"] == "already imported" and f.attempts.count() == 1


def test_permanent_failure_is_not_retried(s3, bucket, settings):
    f, _ = register_s3_object(S3Object(bucket=settings.INGEST_BUCKET, key="orders/never-written", etag="abc"))
    result = import_file_task.apply(args=[f.pk])
    assert result.get()["status"] == "failed"
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and "NoSuchKey" in f.error_message
    assert f.attempts.count() == 1 and f.attempts.get().status == "failed"


def _s3_refusing(settings) -> None:
    """S3 unreachable: a connection refused on every call, without botocore's own retries."""
    dead = f"http://127.0.0.1:{free_port()}"
    ingest = dict(settings.STORAGES["ingest"])
    ingest["OPTIONS"] = {
        **ingest["OPTIONS"],
        "endpoint_url": dead,
        "client_config": Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    }
    settings.STORAGES = {**settings.STORAGES, "ingest": ingest}
    settings.AWS_ENDPOINT_URL = dead
    # The handler's private caches (not in the type stubs): forget the storage already built.
    vars(storages)["_storages"].pop("ingest", None)
    vars(storages)["_backends"] = None


def _send_due_retries() -> list[int]:
    """What the consumer's check does (ingest/services/intake/sweep.py), its clock moved to the due time."""
    from django.db import transaction

    from ingest.services.intake.sweep import retries_due

    ImportFile.objects.filter(retry_due_at__isnull=False).update(retry_due_at=timezone.now())
    with transaction.atomic():
        return retries_due()


def test_transient_failures_are_retried_then_recorded_as_failed(s3, bucket, settings, monkeypatch):
    """Each transient failure is recorded with its retry's due time in the database (the task itself
    returns: no countdown task waits inside the worker); the consumer's check sends it again when
    due; after ``max_retries`` the file fails."""
    f = put_file(s3, settings)
    _s3_refusing(settings)
    monkeypatch.setattr(import_file_task, "max_retries", 2)  # declared at import from INGEST_TASK_MAX_RETRIES

    result = import_file_task.apply(args=[f.pk]).get()
    for retry in (1, 2):
        assert result["status"] == "retry"
        f.refresh_from_db()
        assert (f.status, f.retries) == (ImportStatus.PENDING, retry)
        assert f.retry_due_at is not None and f.retry_due_at > timezone.now()
        assert f.error_message.startswith("will retry: ")
        assert _send_due_retries() == [f.pk]
        f.refresh_from_db()
        assert f.retry_due_at is None  # sent: the next look does not send it again
        assert _send_due_retries() == []
        result = import_file_task.apply(args=[f.pk], kwargs={"trigger": "retry"}).get()
    assert result["status"] == "failed"
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED
    assert f.error_message.startswith("gave up after 3 attempts")
    # Only the final verdict is an attempt: the transient runs rolled back entirely.
    assert list(f.attempts.values_list("status", "trigger")) == [("failed", "retry")]
    assert Order.objects.count() == 0


def test_each_retry_of_a_transient_failure_waits_at_least_half_its_ceiling(s3, bucket, settings, monkeypatch):
    """The due time each failure records, retry after retry."""
    f = put_file(s3, settings)
    _s3_refusing(settings)
    monkeypatch.setattr(import_file_task, "max_retries", 4)
    waits: list[float] = []
    while (result := import_file_task.apply(args=[f.pk], kwargs={"trigger": "retry"}).get())["status"] == "retry":
        waits.append(result["retry_in"])
        f.refresh_from_db()
        assert f.retry_due_at is not None
        recorded = (f.retry_due_at - f.updated_at).total_seconds()
        assert abs(recorded - result["retry_in"]) < 0.01
        _send_due_retries()
    assert result["status"] == "failed"
    assert len(waits) == 4
    for retries, wait in enumerate(waits):
        assert retry_ceiling(retries) / 2 <= wait <= retry_ceiling(retries), (retries, wait)


def test_a_celery_retry_count_from_an_older_release_counts(s3, bucket, settings, monkeypatch):
    """A message an older release sent as a Celery retry (request.retries) keeps its count."""
    f = put_file(s3, settings)
    _s3_refusing(settings)
    monkeypatch.setattr(import_file_task, "max_retries", 3)
    result = import_file_task.apply(args=[f.pk], retries=2).get()
    assert result["status"] == "retry"
    f.refresh_from_db()
    assert f.retries == 3
    _send_due_retries()
    assert import_file_task.apply(args=[f.pk]).get()["status"] == "failed"


def test_a_completed_import_clears_the_retry_count(s3, bucket, settings):
    f = put_file(s3, settings)
    ImportFile.objects.filter(pk=f.pk).update(retries=3)
    assert import_file_task.apply(args=[f.pk]).get()["status"] == "imported"
    f.refresh_from_db()
    assert (f.retries, f.retry_due_at) == (0, None)


def test_redelivery_is_counted_and_capped(s3, bucket, settings):
    settings.INGEST_MAX_REDELIVERIES = 2
    f = put_file(s3, settings)
    ImportFile.objects.filter(pk=f.pk).update(status="running")  # what its lost worker left
    assert run_redelivered(f.pk)["status"] == "imported"
    f.refresh_from_db()
    assert f.redeliveries == 1 and f.status == "imported"

    g = put_file(s3, settings)
    ImportFile.objects.filter(pk=g.pk).update(redeliveries=2, status="running")
    assert run_redelivered(g.pk)["status"] == "failed"
    g.refresh_from_db()
    assert g.status == "failed" and "3 lost deliveries" in g.error_message
    assert Order.objects.filter(last_import=g).count() == 0


def test_a_file_that_no_longer_exists(db):
    assert import_file_task.apply(args=[987654]).get()["status"] == "missing"
    assert run_redelivered(987654)["status"] == "missing"


@pytest.mark.postgres
def test_busy_retries_leave_the_failures_retry_count_alone(s3, bucket, settings):
    """Each look again at a busy file counts ``busy`` up, not the retries a failure may still use."""
    from celery.signals import task_prerun

    settings.INGEST_BUSY_MAX_RETRIES = 2
    f = put_file(s3, settings)
    runs: list[tuple[int, int]] = []

    def seen(sender=None, task=None, kwargs=None, **_):
        runs.append((task.request.retries, (kwargs or {}).get("busy", 0)))

    task_prerun.connect(seen, weak=False, dispatch_uid="busy-runs")
    try:
        with held_by_another_worker(f.pk, key_share=True, hold_at_most=20):
            # The third try of a file whose first two failed (retries=2) finds it busy.
            result = import_file_task.apply(args=[f.pk], retries=2).get()
    finally:
        task_prerun.disconnect(dispatch_uid="busy-runs")
    assert result["status"] == "busy"
    assert runs == [(2, 0), (2, 1), (2, 2)]


@pytest.mark.postgres
def test_busy_file_is_retried_not_failed(s3, bucket, settings):
    """Another worker holds the file's lock: the task retries (a fixed countdown) and never marks it failed."""
    settings.INGEST_BUSY_MAX_RETRIES = 2
    f = put_file(s3, settings)
    with held_by_another_worker(f.pk, key_share=True, hold_at_most=20):
        result = import_file_task.apply(args=[f.pk]).get()
    assert result["status"] == "busy"
    f.refresh_from_db()
    assert f.status in ("pending", "running") and f.attempts.count() == 0
    assert import_file_task.apply(args=[f.pk]).get()["status"] == "imported"


def test_a_message_from_a_newer_release_with_arguments_this_one_does_not_know_still_imports(s3, bucket, settings):
    """Rolling deploy: a newer producer's keyword arguments are ignored, not a TypeError that fails
    the message."""
    f = put_file(s3, settings)
    result = import_file_task.apply(
        args=[f.pk], kwargs={"trigger": "task", "priority_hint": "backfill", "batch_of": [f.pk]}
    ).get()
    assert result["status"] == ImportStatus.IMPORTED
    assert Order.objects.count() == 5
