"""What the ingest keeps of System Two's contract drift: fields the contract does not name.

``UnknownField``: per stream, every unknown member seen (its dotted path), with its JSON types,
how many events carried it, when it was first and last seen and a sample value; written once per
import (``ingest.services.observing.contract_drift``). ``EnvelopeExtras``: the unknown envelope members of an
import's events, kept on the import's record (they describe the event, not the entity; the data
ones are on the rows, ``source_extras``). Imported at the bottom of ``ingest/models/``.
"""

from __future__ import annotations

from django.db import models

from ingest.models.imports import ImportFile
from ingest.models.streams import STREAM_CHOICES


class FieldScope(models.TextChoices):
    DATA = "data", "data"
    ENVELOPE = "envelope", "envelope"


class UnknownField(models.Model):
    """One member System Two sends that the contract of ``transforms/streams.json`` does not name."""

    stream = models.CharField(max_length=32, choices=STREAM_CHOICES)
    scope = models.CharField(max_length=16, choices=FieldScope.choices, default=FieldScope.DATA)
    path = models.CharField(max_length=512, help_text="Dotted path in data (or in the envelope).")
    json_types = models.JSONField(default=list, help_text="The JSON types its values had.")
    events = models.PositiveBigIntegerField(default=0, help_text="Events that carried it.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    sample = models.JSONField(null=True, blank=True, help_text="A value it had (the first seen).")
    last_import = models.ForeignKey(
        ImportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "scope", "path"], name="ingest_unknownfield_unique_path"),
        ]
        ordering = ["stream", "scope", "path"]
        verbose_name = "unknown field"
        verbose_name_plural = "contract drift"

    def __str__(self) -> str:
        return f"{self.stream} {self.scope} {self.path}"


class EnvelopeExtras(models.Model):
    """The unknown envelope members of one batch of an import's events: ``extras`` is a list of
    ``{"line": n, "eventId": "...", "extras": {...}}``, one per event that carried any."""

    import_file = models.ForeignKey(ImportFile, on_delete=models.CASCADE, related_name="envelope_extras")
    first_line = models.PositiveBigIntegerField()
    last_line = models.PositiveBigIntegerField()
    events = models.PositiveIntegerField()
    extras = models.JSONField(default=list)

    class Meta:
        ordering = ["import_file", "first_line"]

    def __str__(self) -> str:
        return f"envelope extras of file {self.import_file_id}, lines {self.first_line}-{self.last_line}"
