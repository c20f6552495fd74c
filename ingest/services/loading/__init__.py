"""Writes batches of events into the website tables, idempotently and in any order of arrival.

``tables`` (what the loader knows of each table), ``dialect`` (PostgreSQL vs SQLite),
``upsert`` (the version-guarded merge), ``references`` (placeholders), ``derived`` (columns
one stream derives from another, declared per stream) and ``batch`` (``apply_batch``).
"""

from ingest.services.loading.batch import BatchCounts, apply_batch

__all__ = ["BatchCounts", "apply_batch"]
