"""The outbox: the keys each import changed, delivered to the website's receivers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ingest.models.imports import ImportFile
from ingest.models.streams import STREAM_CHOICES


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
            # The outbox list, oldest first, whole or by stream (a month of delivered rows is kept).
            models.Index(fields=["created_at", "id"], name="ingest_change_created"),
            models.Index(fields=["stream", "created_at"], name="ingest_change_stream_created"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"changes of file {self.import_file_id} part {self.part} ({self.stream})"
