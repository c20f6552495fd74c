"""Firehose's error output: the objects it wrote under ``errors/`` and each record in them (the
events the transform refused), with the state of their redrive."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ingest.models.imports import ImportFile
from ingest.models.streams import STREAM_CHOICES


class ErrorOutputFile(models.Model):
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


class FailedRecordStatus(models.TextChoices):
    REJECTED = "rejected", "rejected"
    REDRIVEN = "redriven", "redriven"


class FailedRecord(models.Model):
    """One record of an error-output file: the event the transform rejected, as Firehose kept it."""

    error_file = models.ForeignKey(ErrorOutputFile, on_delete=models.CASCADE, related_name="records")
    line_number = models.PositiveIntegerField()
    stream = models.CharField(max_length=32, choices=STREAM_CHOICES, blank=True)
    status = models.CharField(max_length=16, choices=FailedRecordStatus.choices, default=FailedRecordStatus.REJECTED)
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
        permissions = [("redrive_failedrecord", "Can redrive failed records")]
        ordering = ["-arrival_at", "-id"]

    def __str__(self) -> str:
        return f"{self.stream or '?'} record {self.line_number} of {self.error_file_id}: {self.reason[:60]}"
