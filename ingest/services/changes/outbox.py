"""The change outbox: what each import created, updated and deleted, delivered at least once.

The import writes one ``ChangeNotification`` per batch in its own transaction, so the outbox
row exists exactly when the rows do. After the commit the worker delivers it to the receivers
of ``ingest.services.changes.signals.rows_changed`` and marks it delivered; a worker that dies between the commit
and the delivery leaves the row undelivered, and ``dispatch_undelivered`` (the consumer's sweep,
``manage.py dispatch_changes``) sends it later. Receivers may therefore see a notification twice,
never zero times.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ingest.models import ChangeNotification, ImportFile
from ingest.services.changes.signals import rows_changed
from ingest.services.loading import BatchCounts
from ingest.services.loading.dialect import json_from_text
from ingest.services.loading.keys import join_arrays
from ingest.services.observing import prometheus

logger = logging.getLogger(__name__)

# Rows delivered per transaction by the sweep.
DISPATCH_CHUNK = 100
# The worker that wrote a notification delivers it itself; the sweep leaves it that long first.
SWEEP_GRACE_SECONDS = 30.0


def record_changes(f: ImportFile, counts: BatchCounts, part: int) -> int | None:
    """Write one batch's changed keys to the outbox (inside the import's transaction); its id, None if none.

    The keys go in as the JSON text the loader's statements wrote (an insert of our own rather
    than the ORM's, which would decode and encode them again). With no receiver connected the
    row is written delivered (to nobody): ``dispatch_after_commit`` then has nothing to do."""
    if not counts.has_keys():
        return None
    table = ChangeNotification._meta.db_table
    as_json = json_from_text(connection.vendor == "postgresql", "%s")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    listened = rows_changed.has_listeners(ChangeNotification)
    columns = (
        "import_file_id, stream, part, created_keys, updated_keys, deleted_keys,"
        " created_at, delivered_at, attempts, last_error"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, {as_json}, {as_json}, {as_json}, %s, %s, %s, '')"  # noqa: S608 - our own names
            " RETURNING id",
            [
                f.pk,
                f.stream,
                part,
                join_arrays(counts.created_json),
                join_arrays(counts.updated_json),
                join_arrays(counts.deleted_json),
                now,
                None if listened else now,
                0 if listened else 1,
            ],
        )
        notification_id: int = cursor.fetchone()[0]
        return notification_id


def dispatch_after_commit(import_file_id: int) -> None:
    """Deliver this import's notifications once its transaction has committed (if anyone listens:
    otherwise ``record_changes`` wrote them delivered)."""
    if rows_changed.has_listeners(ChangeNotification):
        transaction.on_commit(partial(_dispatch_quietly, import_file_id))


def _dispatch_quietly(import_file_id: int) -> None:
    try:
        dispatch(ChangeNotification.objects.filter(import_file_id=import_file_id))
    except Exception:  # the import has committed; the sweep delivers what is left
        logger.exception("delivering the changes of file %s failed; the sweep will retry", import_file_id)


def dispatch(queryset: QuerySet[ChangeNotification] | None = None, *, limit: int = DISPATCH_CHUNK) -> tuple[int, int]:
    """Deliver up to ``limit`` undelivered notifications of the queryset; returns (delivered, failed).

    Each one is locked while its receivers run (skipped if another dispatcher holds it), and
    marked delivered in the same transaction only if no receiver raised. The receivers of one
    notification run in a savepoint: one that fails (a database error included) rolls back its
    own writes, stops the round, and the notification is sent again, to every receiver, later."""
    base = queryset if queryset is not None else ChangeNotification.objects.all()
    delivered = failed = 0
    # Fewest attempts first: a notification whose receiver keeps failing does not hold back the rest.
    pending = base.filter(delivered_at__isnull=True).order_by("attempts", "created_at", "id")
    if not rows_changed.has_listeners(ChangeNotification):
        # Nobody to hand the keys to: one statement marks them delivered, the keys stay unread. The
        # outer condition is checked again on a row another dispatcher has just marked (and skips it).
        delivered = ChangeNotification.objects.filter(
            pk__in=pending.values_list("pk", flat=True)[:limit], delivered_at__isnull=True
        ).update(attempts=F("attempts") + 1, delivered_at=timezone.now(), last_error="")
        prometheus.CHANGES.labels("delivered").inc(delivered)
        return delivered, 0
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True)
        for note in pending[:limit]:
            try:
                with transaction.atomic():
                    rows_changed.send(
                        sender=ChangeNotification,
                        stream=note.stream,
                        created=note.created_keys,
                        updated=note.updated_keys,
                        deleted=note.deleted_keys,
                        import_file_id=note.import_file_id,
                        part=note.part,
                        notification_id=note.pk,
                    )
            except Exception as exc:
                failed += 1
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("change notification %s not delivered: %s", note.pk, error)
                ChangeNotification.objects.filter(pk=note.pk).update(
                    attempts=F("attempts") + 1, last_error=error[:4000]
                )
            else:
                delivered += 1
                ChangeNotification.objects.filter(pk=note.pk).update(
                    attempts=F("attempts") + 1, delivered_at=timezone.now(), last_error=""
                )
    prometheus.CHANGES.labels("delivered").inc(delivered)
    prometheus.CHANGES.labels("failed").inc(failed)
    return delivered, failed


def dispatch_undelivered(*, older_than: float = SWEEP_GRACE_SECONDS, max_rounds: int = 100) -> tuple[int, int]:
    """Deliver what the workers left undelivered (older than ``older_than`` seconds)."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    queryset = ChangeNotification.objects.filter(created_at__lt=cutoff)
    delivered = failed = 0
    for _ in range(max_rounds):
        ok, bad = dispatch(queryset)
        delivered, failed = delivered + ok, failed + bad
        if ok + bad < DISPATCH_CHUNK or ok == 0:
            break
    return delivered, failed


def undelivered_count() -> int:
    return ChangeNotification.objects.filter(delivered_at__isnull=True).count()
