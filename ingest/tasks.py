"""Celery tasks of the ingest. Thin: the importer service decides; the task only owns the retries."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.importing import ImportBusy, TransientImportError, import_file, mark_failed

logger = logging.getLogger(__name__)


def backoff_seconds(retries: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [base, min(cap, base * 2**retries)]."""
    base = settings.INGEST_RETRY_BACKOFF_SECONDS if base is None else base
    cap = settings.INGEST_RETRY_BACKOFF_MAX_SECONDS if cap is None else cap
    ceiling = min(cap, base * (2 ** max(0, retries)))
    return random.uniform(min(base, ceiling), ceiling)  # noqa: S311 - jitter, not crypto


def note_redelivery(import_file_id: int) -> int | None:
    """Count a delivery whose predecessor was lost; the new count, or None if the file is gone."""
    ImportFile.objects.filter(pk=import_file_id).update(redeliveries=F("redeliveries") + 1)
    return ImportFile.objects.filter(pk=import_file_id).values_list("redeliveries", flat=True).first()


def _requeued(import_file_id: int, countdown: float) -> None:
    # The sweep must not ring again while a retry is already scheduled: the file counts as
    # enqueued from the moment its retry is due.
    ImportFile.objects.filter(pk=import_file_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]).update(
        enqueued_at=timezone.now() + timedelta(seconds=countdown)
    )


@shared_task(
    bind=True,
    name="ingest.import_file",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=settings.INGEST_TASK_MAX_RETRIES,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def import_file_task(self, import_file_id: int, trigger: str = "task") -> dict:
    """Import one ImportFile; retries transient failures with backoff, records the rest as failed.

    ``trigger`` names why it runs in the attempt it records (``task``, ``reimport``, ``sweep``)."""
    request = self.request
    task_id = request.id or ""
    if (request.delivery_info or {}).get("redelivered"):
        count = note_redelivery(import_file_id)
        if count is None:
            logger.warning("file %s does not exist any more: nothing to import", import_file_id)
            return {"import_file_id": import_file_id, "status": "missing"}
        if count > settings.INGEST_MAX_REDELIVERIES:
            outcome = mark_failed(
                import_file_id,
                f"gave up after {count} lost deliveries: the import keeps killing its worker "
                "(out of memory? hard time limit?)",
                task_id=task_id,
            )
            return {"import_file_id": import_file_id, "status": outcome.status}

    trigger = "retry" if request.retries else trigger
    try:
        outcome = import_file(import_file_id, trigger=trigger, task_id=task_id)
    except ImportFile.DoesNotExist:
        logger.warning("file %s does not exist any more: nothing to import", import_file_id)
        return {"import_file_id": import_file_id, "status": "missing"}
    except ImportBusy as exc:
        # Not a failure: another worker is importing this very file. Look again later; by then
        # it is imported and this delivery is skipped.
        countdown = settings.INGEST_BUSY_RETRY_SECONDS
        if request.retries >= settings.INGEST_BUSY_MAX_RETRIES:
            logger.error(
                "file %s stayed locked through %s retries; the sweep will look again", import_file_id, request.retries
            )
            return {"import_file_id": import_file_id, "status": "busy"}
        _requeued(import_file_id, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=settings.INGEST_BUSY_MAX_RETRIES) from exc
    except TransientImportError as exc:
        max_retries = settings.INGEST_TASK_MAX_RETRIES
        if request.retries >= max_retries:
            outcome = mark_failed(
                import_file_id,
                f"gave up after {request.retries + 1} attempts: {exc}",
                trigger=trigger,
                task_id=task_id,
            )
            return {"import_file_id": import_file_id, "status": outcome.status}
        countdown = backoff_seconds(request.retries)
        logger.warning(
            "file %s: transient failure, retry %s in %.1fs: %s", import_file_id, request.retries + 1, countdown, exc
        )
        _requeued(import_file_id, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc
    return {
        "import_file_id": import_file_id,
        "status": outcome.status,
        "skipped": outcome.skipped_reason,
        "counts": outcome.counts,
    }
