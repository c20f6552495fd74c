"""Exactly once after pruning: the ledger of pruned import files (``ImportLedgerEntry``).

A file's identity is its ImportFile's unique (bucket, key, etag). Pruning moves an imported
file's identity and counts into the ledger in the transaction that deletes the file, so at every
moment one of the two holds it. Whoever registers a file because S3 announced it (the consumer,
a redelivered notification, ``reimport --missing``) asks ``register_unless_pruned``: the
ImportFile first, then the ledger (in that order: a prune that commits between the two reads is
seen by the second), and only then registers. An explicit import (``import_file s3://…``,
``reimport --key`` of a pruned key) registers the file again on purpose (``revive``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, Subquery

from ingest.models import ImportFile
from ingest.models.retention import ImportLedgerEntry
from ingest.services.intake.registration import S3Object, register_s3_object


def pruned_entry(bucket: str, key: str, etag: str) -> ImportLedgerEntry | None:
    return ImportLedgerEntry.objects.filter(bucket=bucket, key=key, etag=etag.strip('"')).first()


def register_unless_pruned(obj: S3Object, *, registered_by: str) -> tuple[ImportFile | None, bool]:
    """``register_s3_object``, unless the object was imported and its file pruned: (None, False)."""
    etag = obj.etag.strip('"')
    existing = ImportFile.objects.filter(bucket=obj.bucket, key=obj.key, etag=etag).first()
    if existing is not None:
        return existing, False
    if pruned_entry(obj.bucket, obj.key, etag) is not None:
        return None, False
    return register_s3_object(obj, registered_by=registered_by)


def known_in_ledger(bucket: str, keys: Iterable[str]) -> set[tuple[str, str]]:
    """(key, etag) of the ledger entries of these keys in ``bucket``: one query per call."""
    return set(ImportLedgerEntry.objects.filter(bucket=bucket, key__in=list(keys)).values_list("key", "etag"))


def entries_for(*, key: str | None = None, ids: Iterable[int] | None = None) -> list[ImportLedgerEntry]:
    """The ledger entries of a key, or of pruned ImportFile ids."""
    condition = Q()
    if key:
        condition |= Q(key=key)
    if ids:
        condition |= Q(import_file_id__in=list(ids))
    if not condition:
        return []
    return list(ImportLedgerEntry.objects.filter(condition).order_by("imported_at", "pk"))


def revive(entries: Iterable[ImportLedgerEntry], *, registered_by: str = "command") -> list[ImportFile]:
    """Register pruned files again, to be imported when asked explicitly; their ledger entries stay
    (they were imported once; pruning the new file updates the entry)."""
    files = []
    for entry in entries:
        obj = S3Object(bucket=entry.bucket, key=entry.key, etag=entry.etag, version_id=entry.version_id)
        f, _ = register_s3_object(obj, registered_by=registered_by)
        files.append(f)
    return files


def last_imports_in_ledger(streams: Iterable[str]) -> dict[str, tuple[ImportLedgerEntry, datetime]]:
    """Per stream, its newest ledger entry (for a stream whose every import file is pruned): one
    query, a scalar subquery per stream down the (stream, -imported_at) index."""
    condition = Q()
    for stream in streams:
        condition |= Q(
            pk=Subquery(
                ImportLedgerEntry.objects.filter(stream=stream, imported_at__isnull=False)
                .order_by("-imported_at", "-id")
                .values("pk")[:1]
            )
        )
    if not condition:  # no streams asked (Q() alone would match every entry)
        return {}
    return {
        entry.stream: (entry, entry.imported_at)
        for entry in ImportLedgerEntry.objects.filter(condition)
        if entry.imported_at is not None
    }
