"""The database of a test, a benchmark or the demo: emptying the tables the pipeline fills."""

from __future__ import annotations


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
