"""One delivery of the import task: what a worker does with the message the broker handed it.

The Celery task (ingest/tasks.py) only declares the retry policy and calls ``run_task``: a
delivery that follows a lost one counts the loss (and may give up), then the file is imported
(with its ready small batch-mates: ``batch_run``); a transient failure is recorded with the time
its retry is due (``lifecycle.retry_later``: the consumer's check sends the task again then, no
countdown task waits inside a worker), or, with the retries used up, as the file's failure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ingest.models import ImportFile
from ingest.services.importing import lifecycle
from ingest.services.importing.batch_run import import_with_batch_mates
from ingest.services.importing.exceptions import TransientImportError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskRun:
    import_file_id: int
    trigger: str = "task"  # why it runs, recorded on the attempt: task, reimport, sweep
    task_id: str = ""
    redelivered: bool = False  # the broker gave the message back: its first worker was lost
    retries: int = 0  # tries before this one
    last_try: bool = False  # a transient failure now is final
    retry_within: float = 0.0  # the next retry, if any, is due within this many seconds
    max_retries: int = 0  # transient failures allowed before the file fails
    countdown: Callable[[int], float] | None = None  # the wait before retry n+1; None: the caller retries


def run_task(d: TaskRun) -> dict:
    """Run one delivery; a dict for the task's result. Raises ImportBusy and, unless ``last_try``,
    TransientImportError (and the database's own errors) for the task to retry."""
    missing = {"import_file_id": d.import_file_id, "status": "missing"}
    if d.redelivered:
        lost = lifecycle.note_lost_delivery(d.import_file_id, task_id=d.task_id)
        if lost is lifecycle.Lost.MISSING:
            return missing
        if lost is lifecycle.Lost.GAVE_UP:
            return {"import_file_id": d.import_file_id, "status": "failed"}
    trigger = "retry" if d.retries else d.trigger
    try:
        outcome = import_with_batch_mates(
            d.import_file_id, trigger=trigger, task_id=d.task_id, retry_within=d.retry_within
        )
    except ImportFile.DoesNotExist:
        return missing
    except TransientImportError as exc:
        if d.countdown is not None:
            return _retry_later(d, trigger, exc)
        if not d.last_try:
            logger.warning(
                "file %s: transient failure, retry %s within %.0fs: %s",
                d.import_file_id,
                d.retries + 1,
                d.retry_within,
                exc,
            )
            raise
        failed = lifecycle.fail(
            d.import_file_id, f"gave up after {d.retries + 1} attempts: {exc}", trigger=trigger, task_id=d.task_id
        )
        return {"import_file_id": d.import_file_id, "status": failed.status}
    return {
        "import_file_id": d.import_file_id,
        "status": outcome.status,
        "skipped": outcome.skipped_reason,
        "counts": outcome.counts,
    }


def _retry_later(d: TaskRun, trigger: str, exc: TransientImportError) -> dict:
    """The retry goes into the database (its count and due time); raises the database's own error
    if it cannot be written there, for the task to hand the retry to the broker instead."""
    assert d.countdown is not None
    wait = lifecycle.retry_later(
        d.import_file_id,
        str(exc),
        retries=d.retries,
        max_retries=d.max_retries,
        countdown=d.countdown,
        trigger=trigger,
        task_id=d.task_id,
    )
    if wait is None:
        return {"import_file_id": d.import_file_id, "status": "failed"}
    if wait:
        logger.warning("file %s: transient failure, retry due in %.1fs: %s", d.import_file_id, wait, exc)
    return {"import_file_id": d.import_file_id, "status": "retry", "retry_in": wait}
