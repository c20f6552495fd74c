"""Celery tasks of the ingest. Thin: the task declares its retry policy, the services decide."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from celery import shared_task
from celery.exceptions import Reject, Retry
from django.conf import settings

from ingest.services.importing import lifecycle
from ingest.services.importing.exceptions import DATABASE_GONE, ImportBusy, TransientImportError, is_transient
from ingest.services.importing.task_runner import TaskRun, run_task
from ingest.services.repair.reconcile.registration import reconcile_registered

logger = logging.getLogger(__name__)


def retry_ceiling(retries: int) -> float:
    """The longest countdown the backoff can draw for this retry."""
    factor = max(1, int(settings.INGEST_RETRY_BACKOFF_SECONDS))
    return float(min(int(settings.INGEST_RETRY_BACKOFF_MAX_SECONDS), factor * 2**retries))


def retry_countdown(task, retries: int, draw: Callable[[float, float], float] = random.uniform) -> float:
    """The countdown of this retry: exponential, jittered between ``retry_backoff_floor`` of the
    ceiling and the ceiling. Celery's own full jitter draws in [0, ceiling] and may draw 0 s again
    and again: a database restarting for a few seconds would then use up every retry in
    milliseconds."""
    ceiling = retry_ceiling(retries)
    if not task.retry_jitter:
        return ceiling
    return draw(ceiling * task.retry_backoff_floor, ceiling)


@shared_task(
    bind=True,
    name="ingest.import_file",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # Transient failures (S3, network, the database restarting): exponential backoff, jittered above
    # a floor (retry_countdown). Caught by the task itself, not Celery's autoretry_for, whose full
    # jitter has no floor. Backoff and cap are the settings that retry_ceiling reads.
    retry_for=(TransientImportError, *DATABASE_GONE),
    retry_backoff=settings.INGEST_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.INGEST_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    retry_backoff_floor=0.5,  # of the ceiling: the first retry waits INGEST_RETRY_BACKOFF_SECONDS / 2 at least
    max_retries=settings.INGEST_TASK_MAX_RETRIES,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def import_file_task(self, import_file_id: int, trigger: str = "task", busy: int = 0, **newer: object) -> dict:
    """Import one ImportFile. ``trigger`` names why it runs in the attempt it records (``task``,
    ``reimport``, ``sweep``); ``busy``: how many times the file was found locked by another worker
    (counted apart from the retries of failures, see ``_busy``).

    ``newer``: keyword arguments a newer release sends that this one does not know. During a rolling
    deploy old and new workers share the queue; a message must not fail (and its file wait for the
    sweep) because its sender was newer. They are logged and ignored."""
    if newer:
        logger.info("file %s: ignoring task arguments this release does not know: %s", import_file_id, sorted(newer))
    request = self.request
    run = TaskRun(
        import_file_id,
        trigger=trigger,
        task_id=request.id or "",
        redelivered=bool((request.delivery_info or {}).get("redelivered")),
        retries=request.retries,
        last_try=request.retries >= self.max_retries,
        retry_within=retry_ceiling(request.retries),
        max_retries=self.max_retries,
        countdown=lambda retries: retry_countdown(self, retries),
    )
    try:
        return run_task(run)
    except ImportBusy as exc:
        return _busy(self, import_file_id, exc, busy)
    except self.retry_for as exc:
        # Only when the database could not take the retry (run_task records it there otherwise):
        # then the broker holds it, and if this worker dies meanwhile the sweep finds the file.
        raise self.retry(exc=exc, countdown=retry_countdown(self, request.retries)) from exc


def _busy(task, import_file_id: int, exc: ImportBusy, busy: int) -> dict:
    """Not a failure: another worker is importing this very file. Look again after a short fixed
    countdown; by then it is imported and this delivery is skipped.

    Sent again as Celery's ``retry`` would, but with the failures' retry count unchanged and
    ``busy`` counted up: a file found busy ten times still has all its retries for a failure."""
    if busy >= settings.INGEST_BUSY_MAX_RETRIES:
        logger.error("file %s stayed locked through %s retries; the sweep will look again", import_file_id, busy)
        return {"import_file_id": import_file_id, "status": "busy"}
    countdown = settings.INGEST_BUSY_RETRY_SECONDS
    lifecycle.schedule_retry(import_file_id, countdown)
    request = task.request
    again = task.signature_from_request(
        request, kwargs={**(request.kwargs or {}), "busy": busy + 1}, countdown=countdown, retries=request.retries
    )
    if request.is_eager:
        return again.apply().get()
    try:
        again.apply_async()
    except Exception as publish_error:  # as Celery's retry does: the sweep enqueues the pending file later
        raise Reject(publish_error, requeue=False) from exc
    raise Retry(exc=exc, when=countdown, sig=again)


@shared_task(
    bind=True,
    name="ingest.reconcile_snapshot",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    retry_backoff=settings.INGEST_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.INGEST_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    retry_backoff_floor=0.5,
    max_retries=settings.INGEST_TASK_MAX_RETRIES,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def reconcile_snapshot_task(self, run_id: int) -> dict:
    """Reconcile one registered snapshot; the database or S3 going away is retried with backoff."""
    try:
        report = reconcile_registered(run_id)
    except DATABASE_GONE as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self, self.request.retries)) from exc
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=retry_countdown(self, self.request.retries)) from exc
        raise
    return {"run_id": run_id, "counts": report.counts if report else None}
