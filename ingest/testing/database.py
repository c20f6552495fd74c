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


def import_transaction_has_written(key: str | None = None) -> bool:
    """(PostgreSQL) Another backend on this database is inside a transaction that has written (it
    holds an xid): an import half-way through. With ``key``: and that file is running."""
    from django.db import connection

    from ingest.models import ImportFile

    if key is not None and not ImportFile.objects.filter(key=key, status="running").exists():
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_xid IS NOT NULL"
        )
        row = cursor.fetchone()
    return row is not None and row[0] > 0


@contextmanager
def held_by_another_worker(
    import_file_id: int, *, key_share: bool = False, hold_at_most: float = 10.0
) -> Iterator[None]:
    """(PostgreSQL) The file's row locked by another connection, in another thread, while the block runs.

    By default ``FOR UPDATE``, as an importer holds it. ``key_share``: ``FOR KEY SHARE`` instead, so
    that an importer's first UPDATE (to running) passes and only its ``FOR UPDATE NOWAIT`` finds the
    file busy (a ``FOR UPDATE`` would make that UPDATE wait until the lock is released)."""
    import threading

    from django.db import connections, transaction

    from ingest.models import ImportFile

    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                if key_share:
                    with connections["default"].cursor() as cursor:
                        cursor.execute("SELECT id FROM ingest_importfile WHERE id = %s FOR KEY SHARE", [import_file_id])
                else:
                    ImportFile.objects.select_for_update().get(pk=import_file_id)
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
