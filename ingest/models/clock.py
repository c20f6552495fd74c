"""The ERP clock of every import: when its events happened, for freshness and lag."""

from __future__ import annotations

from django.db import models

from ingest.models.imports import ImportFile
from ingest.models.streams import STREAM_CHOICES


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
