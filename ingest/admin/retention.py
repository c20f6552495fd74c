"""What outlives pruning, in the admin: the ledger of pruned import files, and the per-stream
hourly and daily aggregates. Read-only, like the rest of the ingest's admin."""

from __future__ import annotations

from django.contrib import admin

from ingest.admin.helpers import BigTableAdmin, format_seconds
from ingest.models.retention import ImportLedgerEntry, StreamStats
from ingest.services.observing.event_clock import bucket_percentile
from ingest.services.observing.rollup import buckets_of


@admin.register(ImportLedgerEntry)
class ImportLedgerEntryAdmin(BigTableAdmin):
    list_display = (
        "key",
        "stream",
        "status",
        "imported_at",
        "lines_total",
        "rows_created",
        "rows_updated",
        "rows_deleted",
        "errors_count",
        "import_file_id",
        "pruned_at",
    )
    list_filter = ("stream",)
    # key__startswith: the (varchar_pattern_ops) key index; newest pruned first along the primary key.
    search_fields = ("key__startswith",)
    ordering = ("-id",)
    sortable_by = ()
    fields = (
        "bucket",
        "key",
        "etag",
        "version_id",
        "stream",
        "status",
        "import_file_id",
        "registered_at",
        "imported_at",
        "lines_total",
        "rows_created",
        "rows_updated",
        "rows_deleted",
        "errors_count",
        "pruned_at",
    )
    readonly_fields = fields


@admin.register(StreamStats)
class StreamStatsAdmin(BigTableAdmin):
    list_display = ("start", "period", "stream", "files", "rows", "errors", "failed", "lag_p50", "event_lag_p50")
    list_filter = ("period", "stream")
    ordering = ("-start", "stream")
    sortable_by = ()
    readonly_fields = (
        "period",
        "start",
        "stream",
        "files",
        "files_with_errors",
        "failed",
        "lines",
        "rows",
        "errors",
        "lag_buckets",
        "event_lag_buckets",
        "newest_occurred_at",
        "last_import_at",
        "rolled_up_at",
    )
    fields = readonly_fields

    @admin.display(description="S3-to-row lag p50")
    def lag_p50(self, obj: StreamStats) -> str:
        return format_seconds(bucket_percentile(buckets_of(obj.lag_buckets), 0.5))

    @admin.display(description="event-to-row lag p50")
    def event_lag_p50(self, obj: StreamStats) -> str:
        return format_seconds(bucket_percentile(buckets_of(obj.event_lag_buckets), 0.5))
