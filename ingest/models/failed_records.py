"""What the operators' tools keep: Firehose's rejected records (and their redrive), the ERP-clock
freshness of every import, and the outbox of change notifications for the website.

Kept apart from ``ingest/models/`` (the import lifecycle) so that each side changes on its own;
``ingest/models/`` imports these so that Django finds them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ingest.models.imports import ImportFile
from transforms.streams import STREAM_NAMES

STREAM_CHOICES = [(name, name) for name in STREAM_NAMES]


class ErrorFile(models.Model):
    """One object Firehose wrote under ``errors/`` (its error output), registered once per content."""

    bucket = models.CharField(max_length=255)
    key = models.CharField(max_length=1024)
    etag = models.CharField(max_length=128, blank=True)
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    records_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, help_text="Why the object could not be read (it had vanished).")
    s3_event_time = models.DateTimeField(null=True, blank=True)
    registered_by = models.CharField(max_length=32, blank=True, help_text="notification, command")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "key", "etag"], name="ingest_errorfile_unique_object"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class RejectedStatus(models.TextChoices):
    REJECTED = "rejected", "rejected"
    REDRIVEN = "redriven", "redriven"


class RejectedRecord(models.Model):
    """One record of an error file: the event the transform rejected, as Firehose kept it."""

    error_file = models.ForeignKey(ErrorFile, on_delete=models.CASCADE, related_name="records")
    line_number = models.PositiveIntegerField()
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES, blank=True)
    status = models.CharField(max_length=16, choices=RejectedStatus.choices, default=RejectedStatus.REJECTED)
    # Firehose's error-output fields, as written.
    attempts_made = models.PositiveIntegerField(null=True, blank=True)
    arrival_at = models.DateTimeField(null=True, blank=True, help_text="arrivalTimestamp: when Kinesis got it.")
    attempt_ending_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    raw_data = models.TextField(blank=True, help_text="rawData: base64 of the body System Two posted.")
    lambda_arn = models.CharField(max_length=2048, blank=True)
    # What the latest transform says (Firehose's message until a redrive tells more).
    reason = models.TextField(blank=True)
    redrive_attempts = models.PositiveIntegerField(default=0)
    last_redrive_at = models.DateTimeField(null=True, blank=True)
    redriven_in = models.ForeignKey(
        ImportFile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="redriven_records",
        help_text="The System One file the redrive wrote this record into.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["error_file", "line_number"], name="ingest_rejected_record_unique_line"),
            models.CheckConstraint(
                condition=Q(status="rejected") | Q(redriven_in__isnull=False), name="ingest_redriven_has_file"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "stream", "arrival_at"], name="ingest_rejected_status_stream"),
            models.Index(fields=["-arrival_at"], name="ingest_rejected_arrival"),
        ]
        permissions = [("redrive_rejectedrecord", "Can redrive rejected records")]
        ordering = ["-arrival_at", "-id"]

    def __str__(self) -> str:
        return f"{self.stream or '?'} record {self.line_number} of {self.error_file_id}: {self.reason[:60]}"


class ImportEventClock(models.Model):
    """The ERP's clock seen by one import: the newest ``occurredAt`` it loaded, and when it committed."""

    import_file = models.OneToOneField(ImportFile, on_delete=models.CASCADE, primary_key=True, related_name="clock")
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES)
    committed_at = models.DateTimeField()
    events = models.PositiveBigIntegerField(default=0)
    oldest_occurred_at = models.DateTimeField(null=True, blank=True)
    newest_occurred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["stream", "-newest_occurred_at"], name="ingest_clock_stream_newest"),
            models.Index(fields=["stream", "committed_at"], name="ingest_clock_stream_committed"),
        ]

    def __str__(self) -> str:
        return f"clock of file {self.import_file_id}: newest event {self.newest_occurred_at}"


class EventLagCount(models.Model):
    """How many of one import's events had an event-to-row lag (occurredAt → commit) in one bucket.

    A histogram per import, summed over any window in SQL: exact bucket counts, percentiles
    interpolated within a bucket (the bounds are ``ingest.services.observing.event_clock.LAG_BUCKETS``)."""

    import_file = models.ForeignKey(ImportFile, on_delete=models.CASCADE, related_name="event_lags")
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES)
    committed_at = models.DateTimeField()
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["import_file", "bucket"], name="ingest_eventlag_unique_bucket"),
        ]
        indexes = [models.Index(fields=["committed_at", "stream"], name="ingest_eventlag_committed")]

    def __str__(self) -> str:
        return f"file {self.import_file_id}: {self.count} event(s) in lag bucket {self.bucket}"


class ChangeNotification(models.Model):
    """The outbox: the keys one import (one batch of it) created, updated and deleted, written in the
    import's transaction and delivered to ``ingest.services.changes.signals.rows_changed`` receivers after commit."""

    import_file = models.ForeignKey(ImportFile, on_delete=models.CASCADE, related_name="changes")
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES)
    part = models.PositiveIntegerField(default=1, help_text="Batches of one import are delivered as parts.")
    created_keys = models.JSONField(default=list)
    updated_keys = models.JSONField(default=list)
    deleted_keys = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["import_file", "part"], name="ingest_change_unique_part"),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], name="ingest_change_undelivered", condition=Q(delivered_at__isnull=True)
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"changes of file {self.import_file_id} part {self.part} ({self.stream})"
