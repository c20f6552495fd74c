"""Sending the import task for a registered file, and the reconciliation task for a registered
snapshot: the one place a service reaches the Celery tasks.

The consumer, the sweep, ``reimport`` and ``redrive`` all send the import through ``enqueue_import``, always
from ``transaction.on_commit`` (the task must find the committed ImportFile). The task module imports
the services, so the import of ``ingest.tasks`` happens here, at call time, not at import time.
"""

from __future__ import annotations


def enqueue_import(import_file_id: int, trigger: str = "task") -> None:
    """Send ``ingest.import_file`` for this file; ``trigger`` names why on the attempt it records."""
    from ingest.tasks import import_file_task

    if trigger == "task":
        import_file_task.delay(import_file_id)
    else:
        import_file_task.delay(import_file_id, trigger=trigger)


def enqueue_reconciliation(run_id: int) -> None:
    """Send ``ingest.reconcile_snapshot`` for a registered snapshot (a ``ReconciliationRun``)."""
    from ingest.tasks import reconcile_snapshot_task

    reconcile_snapshot_task.delay(run_id)
