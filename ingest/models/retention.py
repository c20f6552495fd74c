"""What outlives pruning: the ledger of every file ever imported, and the per-stream aggregates.

Kept apart from ``ingest/models/`` (the import lifecycle) so that each side changes on its own;
``ingest/models/`` imports these so that Django finds them. Written by
``ingest.services.retention.prune`` (pruning) and ``ingest.services.observing.rollup`` (aggregates) only.
"""

from __future__ import annotations

from django.db import models

from ingest.models.streams import STREAM_CHOICES


class ImportLedgerEntry(models.Model):
    """A pruned import file, reduced to what exactly once needs: its identity (the ImportFile's
    unique bucket/key/etag) and what its import did. The consumer, ``reimport --missing`` and a
    redelivered notification consult it, so a pruned file is never imported again unless asked."""

    import_file_id = models.BigIntegerField(
        db_index=True, help_text="The pruned ImportFile's id (website rows' last_import may still name it)."
    )
    bucket = models.CharField(max_length=255, blank=True)
    key = models.CharField(max_length=1024)
    etag = models.CharField(max_length=128, blank=True)
    version_id = models.CharField(max_length=1024, blank=True)
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES, blank=True)
    status = models.CharField(max_length=32, help_text="imported or imported_with_errors")
    registered_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    lines_total = models.PositiveBigIntegerField(default=0)
    rows_created = models.PositiveBigIntegerField(default=0)
    rows_updated = models.PositiveBigIntegerField(default=0)
    rows_deleted = models.PositiveBigIntegerField(default=0)
    errors_count = models.PositiveBigIntegerField(default=0)
    pruned_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "key", "etag"], name="ingest_ledger_unique_object"),
        ]
        indexes = [
            models.Index(fields=["key"], name="ingest_ledger_key", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["stream", "-imported_at"], name="ingest_ledger_stream_imported"),
        ]
        ordering = ["-imported_at", "-id"]
        verbose_name_plural = "import ledger entries"

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.key}" if self.bucket else self.key
        return f"{where} (imported {self.imported_at:%Y-%m-%d %H:%M}, pruned)" if self.imported_at else where


class StatsPeriod(models.TextChoices):
    HOUR = "hour", "hour"
    DAY = "day", "day"


class StreamStats(models.Model):
    """One stream's hour or day: files, rows, errors and lag histograms, rolled up from the
    import files before they are pruned (``ingest.services.observing.rollup``). Lags are histograms over
    ``ingest.services.observing.event_clock.LAG_BUCKETS`` (bucket index -> count, as JSON), so that any
    window's percentiles come from summed counts."""

    period = models.CharField(max_length=8, choices=StatsPeriod.choices)
    start = models.DateTimeField()
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES)
    files = models.PositiveIntegerField(default=0, help_text="Files imported (with or without bad lines).")
    files_with_errors = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    lines = models.PositiveBigIntegerField(default=0)
    rows = models.PositiveBigIntegerField(default=0, help_text="Rows created, updated and deleted.")
    errors = models.PositiveBigIntegerField(default=0, help_text="Bad lines.")
    lag_buckets = models.JSONField(default=dict, help_text="S3-to-row lag of the files: bucket -> files.")
    event_lag_buckets = models.JSONField(default=dict, help_text="Event-to-row lag: bucket -> events.")
    newest_occurred_at = models.DateTimeField(null=True, blank=True)
    last_import_at = models.DateTimeField(null=True, blank=True)
    rolled_up_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "stream", "start"], name="ingest_streamstats_unique_period"),
        ]
        indexes = [
            models.Index(fields=["period", "start"], name="ingest_streamstats_start"),
            models.Index(fields=["-start", "stream"], name="ingest_streamstats_newest"),
        ]
        ordering = ["-start", "stream"]
        verbose_name_plural = "stream stats"

    def __str__(self) -> str:
        return f"{self.stream} {self.period} of {self.start:%Y-%m-%d %H:00}: {self.files} file(s)"
