"""Sending the import task for a registered file: the one place a service reaches the Celery task.

The consumer, the sweep, ``reimport`` and ``redrive`` all send it through ``enqueue_import``, always
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
