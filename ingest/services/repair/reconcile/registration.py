"""Snapshots that arrive in the landing bucket (``snapshots/{stream}/…``): registered once per content
by the consumer, reconciled by a worker.

A run registered from a notification is unique on (bucket, key, ETag), so a repeated or duplicated
notification registers nothing new; its task is enqueued after the registration commits. The
worker always reports, repairs ``missing`` and ``behind`` when ``INGEST_RECONCILE_AUTO_REPAIR`` is
on (the default), and never content or deletes: those wait for an operator (the admin's actions).
A run whose task was lost (broker down) or whose worker died is enqueued_again again by the sweep.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ingest.models.reconciliation import ReconciliationDrift, ReconciliationLineError, ReconciliationRun, RunStatus
from ingest.services.importing.enqueue import enqueue_reconciliation
from ingest.services.intake.registration import S3Object, refusal
from ingest.services.repair.reconcile.run import Report, Requested, reconcile
from ingest.services.repair.reconcile.snapshot import SnapshotError

logger = logging.getLogger(__name__)

SNAPSHOTS_PREFIX = "snapshots/"
TRIGGER = "notification"


def is_snapshot_object(obj: S3Object, *, bucket: str) -> bool:
    """An object under ``snapshots/{stream}/`` of the ingest bucket, with a key the database can hold
    (the same checks as for a file of records, on the key after the prefix)."""
    if not obj.key.startswith(SNAPSHOTS_PREFIX):
        return False
    return refusal(dataclasses.replace(obj, key=obj.key[len(SNAPSHOTS_PREFIX) :]), bucket=bucket) == ""


def register_snapshot(obj: S3Object) -> tuple[ReconciliationRun, bool]:
    """The run of this snapshot object's content, created (pending) on its first announcement."""
    etag = obj.etag.strip('"')
    lookup = {"bucket": obj.bucket, "key": obj.key, "etag": etag, "trigger": TRIGGER}
    defaults = {
        "source": f"s3://{obj.bucket}/{obj.key}",
        "stream": obj.key[len(SNAPSHOTS_PREFIX) :].split("/", 1)[0],
        "status": RunStatus.PENDING,
    }
    try:
        with transaction.atomic():
            return ReconciliationRun.objects.get_or_create(**lookup, defaults=defaults)
    except IntegrityError:  # another consumer registered it between our SELECT and INSERT
        return ReconciliationRun.objects.get(**lookup), False


def enqueue_run(run_id: int, enqueue: Callable[[int], None] | None = None) -> None:
    """After commit: enqueue the run's task; a broker that is down leaves it pending for the sweep."""
    try:
        (enqueue or enqueue_reconciliation)(run_id)
    except Exception as exc:
        logger.warning("reconciliation run %s: could not enqueue (%s); the sweep will", run_id, exc)


def lost_runs(*, older_than: float) -> list[int]:
    """Runs registered from notifications that nobody finished: pending (the task was lost) or
    running (the worker died) for longer than ``older_than`` seconds."""
    before = timezone.now() - timedelta(seconds=older_than)
    return list(
        ReconciliationRun.objects.filter(
            trigger=TRIGGER, status__in=(RunStatus.PENDING, RunStatus.RUNNING), created_at__lt=before
        )
        .exclude(status=RunStatus.RUNNING, started_at__gte=before)
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )


def sweep_runs(enqueue: Callable[[int], None] | None = None, *, older_than: float | None = None) -> list[int]:
    """Enqueue again the runs ``lost_runs`` finds. Never raises: the consumer's loop must go on."""
    try:
        pks = lost_runs(older_than=settings.INGEST_REQUEUE_AFTER_SECONDS if older_than is None else older_than)
        for pk in pks:
            enqueue_run(pk, enqueue)
        return pks
    except Exception:
        logger.exception("reconciliation sweep failed; trying again next interval")
        return []


def reconcile_registered(run_id: int) -> Report | None:
    """Run a registered snapshot's reconciliation (the worker's service). A run done already is
    skipped; one that started and died is compared again from the start (repairs go through the
    version guard, so repeating them is harmless), as is one that failed and is retried."""
    run = ReconciliationRun.objects.get(pk=run_id)
    if run.status == RunStatus.DONE:
        return None
    with transaction.atomic():
        ReconciliationDrift.objects.filter(run=run).delete()
        ReconciliationLineError.objects.filter(run=run).delete()
    requested = Requested(apply=settings.INGEST_RECONCILE_AUTO_REPAIR)
    try:
        return reconcile(run.source, requested, etag=run.etag, trigger=TRIGGER, run=run)
    except SnapshotError as exc:  # recorded on the run by ``reconcile``; nothing to retry
        logger.error("reconciliation run %s of %s failed: %s", run.pk, run.source, exc)
        return None
