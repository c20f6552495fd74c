"""What a reconciliation against one of System Two's snapshots records: the run, its drift, its bad lines.

A snapshot is System Two's own state of one stream (the contract's "Snapshots (reconciliation)");
``ingest.services.repair.reconcile`` compares it with the website's rows and repairs what it is asked to.
Imported at the bottom of ``ingest/models/`` so that Django registers the models.
"""

from __future__ import annotations

from django.db import models

from ingest.models.imports import ImportFile
from ingest.models.streams import STREAM_CHOICES


class Category(models.TextChoices):
    MISSING = "missing", "missing"
    BEHIND = "behind", "behind"
    AHEAD = "ahead", "ahead"
    DIFFERS = "differs", "differs"
    ONLY_ON_WEBSITE = "only_on_website", "only on website"


# The categories a run counts, in the order reports show them (in_sync is counted, never stored).
COUNTED = ("in_sync", "missing", "behind", "ahead", "differs", "only_on_website")
# What System Two must send again when a run could not (or was not asked to) repair it.
RESEND_CATEGORIES = (Category.MISSING, Category.BEHIND, Category.DIFFERS)


class RunStatus(models.TextChoices):
    PENDING = "pending", "pending"  # registered from a notification, not run yet
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class Resolution(models.TextChoices):
    OPEN = "open", "open"
    REPAIRED = "repaired", "repaired"
    # The repair found a newer version than the snapshot's (it arrived after takenAt): nothing to do.
    SUPERSEDED = "superseded", "superseded"


class ReconciliationRun(models.Model):
    """One comparison of a snapshot with the website's rows, and the repairs made from it."""

    stream = models.CharField(max_length=32, choices=STREAM_CHOICES, blank=True)
    source = models.CharField(max_length=1300, help_text="s3://bucket/key, or the path of a local file.")
    bucket = models.CharField(max_length=255, blank=True)
    key = models.CharField(max_length=1024, blank=True)
    etag = models.CharField(max_length=128, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    rows_kind = models.CharField(max_length=16, blank=True, help_text="full or versions")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=32, blank=True, help_text="command, notification, admin")
    error_message = models.TextField(blank=True)

    lines_total = models.PositiveBigIntegerField(default=0)
    in_sync = models.PositiveBigIntegerField(default=0)
    missing = models.PositiveBigIntegerField(default=0)
    behind = models.PositiveBigIntegerField(default=0)
    ahead = models.PositiveBigIntegerField(default=0)
    differs = models.PositiveBigIntegerField(default=0)
    only_on_website = models.PositiveBigIntegerField(default=0)
    line_errors = models.PositiveBigIntegerField(default=0)
    repaired = models.PositiveBigIntegerField(default=0)
    content_repaired = models.PositiveBigIntegerField(default=0)
    deletes_applied = models.PositiveBigIntegerField(default=0)

    # The ImportFile that repaired rows name as their last import (one per run that repaired).
    lineage = models.OneToOneField(
        ImportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="reconciliation"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # An object of the landing bucket is reconciled once per content (commands may run a file again).
            models.UniqueConstraint(
                fields=["bucket", "key", "etag"],
                condition=models.Q(trigger="notification"),
                name="ingest_reconcile_unique_object",
            ),
        ]
        indexes = [models.Index(fields=["stream", "-created_at"], name="ingest_recon_stream_created")]
        permissions = [("repair_reconciliationrun", "Can apply a reconciliation's repairs")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"reconciliation #{self.pk} of {self.stream or '?'} ({self.status})"

    def counts(self) -> dict[str, int]:
        names = (*COUNTED, "line_errors", "repaired", "content_repaired", "deletes_applied")
        return {name: getattr(self, name) for name in names}


class ReconciliationDrift(models.Model):
    """One key of a run that was not in sync, with both sides' version and occurredAt."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="drift")
    category = models.CharField(max_length=16, choices=Category.choices)
    key_json = models.TextField(help_text="The natural key as the contract names it (a JSON object).")
    line_number = models.PositiveBigIntegerField(null=True, blank=True)
    website_version = models.BigIntegerField(null=True, blank=True)
    website_occurred_at = models.DateTimeField(null=True, blank=True)
    website_deleted = models.BooleanField(null=True, blank=True)
    snapshot_version = models.BigIntegerField(null=True, blank=True)
    snapshot_occurred_at = models.DateTimeField(null=True, blank=True)
    snapshot_deleted = models.BooleanField(null=True, blank=True)
    snapshot_line = models.TextField(blank=True, default="", help_text="The snapshot's full row (full snapshots).")
    resolution = models.CharField(max_length=16, choices=Resolution.choices, default=Resolution.OPEN)

    class Meta:
        indexes = [models.Index(fields=["run", "category", "resolution"], name="ingest_drift_run_category")]
        ordering = ["run", "category", "id"]

    def __str__(self) -> str:
        return f"{self.category} {self.key_json}"


class ReconciliationLineError(models.Model):
    """A line of a snapshot that was not compared: invalid, or a second line of a key already seen."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="bad_lines")
    line_number = models.PositiveBigIntegerField()
    raw_text = models.TextField()
    message = models.TextField()

    class Meta:
        ordering = ["run", "line_number"]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.message}"
