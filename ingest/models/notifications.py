"""The SQS messages the consumer could not read."""

from __future__ import annotations

from django.db import models


class UnreadableMessage(models.Model):
    """A queue message the consumer could not read: kept with its body, then deleted from the queue."""

    queue_url = models.CharField(max_length=1024)
    message_id = models.CharField(max_length=128)
    receive_count = models.PositiveIntegerField(default=1, help_text="SQS ApproximateReceiveCount when last seen.")
    body = models.TextField()
    error = models.TextField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue_url", "message_id"], name="ingest_rejected_unique_message"),
        ]
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"message {self.message_id}: {self.error[:80]}"
