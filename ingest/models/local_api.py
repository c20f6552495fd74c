"""What the local import API (ingest/local/) keeps: the signatures it accepted, to refuse a replay."""

from __future__ import annotations

from django.db import models


class SeenSignature(models.Model):
    """A signed request the local import API accepted, kept while its timestamp is within the
    tolerance, so that the same request sent again is refused (``ingest.local.replay``). A table,
    not process memory: every gunicorn worker must see what the others accepted."""

    signature = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"signature {self.signature[:12]}… until {self.expires_at:%H:%M:%S}"
