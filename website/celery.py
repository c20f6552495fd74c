"""The Celery application; its configuration lives in Django settings under ``CELERY_``."""

import os
from typing import Any

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "website.settings")

app = Celery("website")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections(sender: Any = None, **_kwargs: Any) -> None:
    """Around each task, Django's rule for its connections, as around a web request: kept for
    DATABASE_CONN_MAX_AGE seconds (0, the default: closed after each task), replaced once an
    error left it unusable (the database restarted). Celery's fixup, which would close them all
    every time, is held off by CELERY_DB_REUSE_MAX. An eager task runs inside its caller's
    transaction, whose connection is not this hook's to close."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
