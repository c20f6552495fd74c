"""The database of a test, a benchmark or the demo: emptying the tables the pipeline fills."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def reset_tables() -> None:
    """Delete the rows of the nine website models and the import history (not the users)."""
    from ingest.models import ImportAttempt, ImportFile, ImportLineError
    from website.models import MODELS_BY_STREAM

    for model in MODELS_BY_STREAM.values():
        model.objects.all().delete()
    ImportLineError.objects.all().delete()
    ImportAttempt.objects.all().delete()
    ImportFile.objects.all().delete()


def tables_are_empty() -> bool:
    """No row in any of the nine website models."""
    from website.models import MODELS_BY_STREAM

    return not any(model.objects.exists() for model in MODELS_BY_STREAM.values())


def truncate_tables() -> None:
    """PostgreSQL: empty every table of the website and ingest apps at once, sequences restarted
    (the benchmarks' own databases; far faster than deleting rows)."""
    from django.apps import apps
    from django.db import connection

    tables = [m._meta.db_table for app in ("website", "ingest") for m in apps.get_app_config(app).get_models()]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@contextmanager
def held_by_another_worker(import_file_id: int, *, hold_at_most: float = 60.0) -> Iterator[None]:
    """(PostgreSQL) The file's row locked by another connection, in another thread, while the block runs.

    ``FOR KEY SHARE``: an importer's first UPDATE (to running) passes, its ``FOR UPDATE NOWAIT``
    does not (a ``FOR UPDATE`` here would make that UPDATE wait until the lock is released)."""
    import threading

    from django.db import connections, transaction

    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                cursor.execute("SELECT id FROM ingest_importfile WHERE id = %s FOR KEY SHARE", [import_file_id])
                locked.set()
                release.wait(hold_at_most)
        finally:
            connections.close_all()

    holder = threading.Thread(target=other_worker)
    holder.start()
    try:
        assert locked.wait(10), "the other worker could not lock the file"
        yield
    finally:
        release.set()
        holder.join(hold_at_most)
