"""What the ingest records about every file it imports, every attempt and every bad line."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ingest.models.streams import STREAM_CHOICES


class ImportStatus(models.TextChoices):
    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    IMPORTED = "imported", "imported"
    IMPORTED_WITH_ERRORS = "imported_with_errors", "imported with errors"
    FAILED = "failed", "failed"


DONE_STATUSES = (ImportStatus.IMPORTED, ImportStatus.IMPORTED_WITH_ERRORS)
# The dashboard's backlog: files still waiting, and those that failed.
BACKLOG_STATUSES = (ImportStatus.PENDING, ImportStatus.RUNNING, ImportStatus.FAILED)


class ImportCounts(models.Model):
    """The per-file totals of an import (django-import-export's totals)."""

    lines_total = models.PositiveBigIntegerField(default=0)
    rows_created = models.PositiveBigIntegerField(default=0)
    rows_updated = models.PositiveBigIntegerField(default=0)
    rows_stale = models.PositiveBigIntegerField(default=0)
    rows_deleted = models.PositiveBigIntegerField(default=0)
    placeholders_created = models.PositiveBigIntegerField(default=0)
    errors_count = models.PositiveBigIntegerField(default=0)

    COUNT_FIELDS = (
        "lines_total",
        "rows_created",
        "rows_updated",
        "rows_stale",
        "rows_deleted",
        "placeholders_created",
        "errors_count",
    )

    class Meta:
        abstract = True


class ImportFile(ImportCounts):
    """One object (or local file) of System One records, imported at most once per content."""

    bucket = models.CharField(max_length=255, blank=True, help_text="Empty for a local file.")
    key = models.CharField(max_length=1024, help_text="S3 key, or the absolute path of a local file.")
    etag = models.CharField(max_length=128, blank=True, help_text="S3 ETag, or sha256 of a local file.")
    version_id = models.CharField(max_length=1024, blank=True)
    sequencer = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES, blank=True)
    status = models.CharField(max_length=32, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    registered_by = models.CharField(max_length=32, blank=True, help_text="notification, sweep, command, api")
    error_message = models.TextField(blank=True)
    attempts_count = models.PositiveIntegerField(default=0)
    redeliveries = models.PositiveIntegerField(
        default=0, help_text="Task deliveries that found an earlier one lost (worker killed); capped."
    )
    # A retry after a transient failure is kept here, not as a countdown task inside a worker (which
    # dies with it): the consumer's check sends the task again once it is due.
    retries = models.PositiveIntegerField(
        default=0, help_text="Transient failures since the last completed import; capped by INGEST_TASK_MAX_RETRIES."
    )
    retry_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next retry of a transient failure is due (then sent by the sweep)."
    )

    s3_event_time = models.DateTimeField(null=True, blank=True, help_text="When S3 says the object was created.")
    received_at = models.DateTimeField(null=True, blank=True, help_text="When the ingest learnt of the object.")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True, help_text="Time spent importing (last attempt).")
    lag_seconds = models.FloatField(
        null=True, blank=True, help_text="From the S3 event (or registration) to committed rows."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "key", "etag"], name="ingest_importfile_unique_object"),
        ]
        indexes = [
            models.Index(fields=["stream", "status"], name="ingest_file_stream_status"),
            models.Index(fields=["status", "created_at"], name="ingest_file_status_created"),
            # The imports list's order. The id is carried, not a key: a deep page's ids come from the
            # index alone, while the planner keeps preferring the key-prefix index for a search (an
            # index in the list's exact order made it walk a million newer entries to an old day).
            models.Index(fields=["-created_at"], include=["id"], name="ingest_file_created_id"),
            # The dashboard's backlog per stream, read from the index alone (a small part of the files).
            models.Index(
                fields=["stream", "status", "created_at"],
                name="ingest_file_backlog",
                condition=Q(status__in=BACKLOG_STATUSES),
            ),
            # The consumer's check for due retries: only the few files waiting for one are indexed.
            models.Index(
                fields=["retry_due_at"], name="ingest_file_retry_due", condition=Q(retry_due_at__isnull=False)
            ),
            models.Index(fields=["stream", "-finished_at"], name="ingest_file_stream_finished"),
            # The imports list filtered by stream, or stream and status, newest first (millions of files).
            models.Index(fields=["stream", "-created_at"], name="ingest_file_stream_created"),
            models.Index(fields=["stream", "status", "-created_at"], name="ingest_file_stream_status_new"),
            # The dashboard's backlog (pending, running, failed per stream, oldest pending): index only.
            models.Index(fields=["status", "stream", "created_at"], name="ingest_file_status_stream"),
            # Pattern ops: the admin searches keys by prefix (LIKE 'orders/2026/11/27%'), which a
            # plain index cannot serve outside the C collation; equality lookups use it just as well.
            models.Index(fields=["key"], name="ingest_file_key", opclasses=["varchar_pattern_ops"]),
        ]
        permissions = [("reimport_importfile", "Can re-import files")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.key}" if self.bucket else self.key
        return f"{where} ({self.status})"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket else self.key


class ImportAttempt(ImportCounts):
    """One run of the importer over one file; a re-import adds an attempt and keeps the earlier ones."""

    import_file = models.ForeignKey(ImportFile, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=32, blank=True, help_text="task, reimport, command, retry")
    status = models.CharField(max_length=32, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    worker = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    dry_run = models.BooleanField(default=False)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["import_file", "number"], name="ingest_attempt_unique_number"),
        ]
        ordering = ["import_file", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of file {self.import_file_id} ({self.status})"


class ImportLineError(models.Model):
    """A line of a file that could not be imported: its number, its raw text and why."""

    import_file = models.ForeignKey(ImportFile, on_delete=models.CASCADE, related_name="line_errors")
    attempt = models.ForeignKey(
        ImportAttempt, on_delete=models.CASCADE, related_name="line_errors", null=True, blank=True
    )
    line_number = models.PositiveBigIntegerField()
    raw_text = models.TextField(help_text="The line as it was in the file (invalid UTF-8 shown as \\x escapes).")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    # Set only by querysets that select an excerpt instead of the whole line (the admin's).
    raw_excerpt: str

    class Meta:
        ordering = ["import_file", "line_number"]
        indexes = [models.Index(fields=["import_file", "line_number"], name="ingest_lineerror_file_line")]
        constraints = [
            models.CheckConstraint(condition=Q(line_number__gte=1), name="ingest_lineerror_line_positive"),
        ]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.message}"
