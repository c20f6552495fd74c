"""Reconciliation runs in the admin: the runs, the keys of each category side by side, the snapshot's
bad lines, the resend list (CSV, JSON Lines), and the repairs an operator applies to a finished run.

Read-only like the rest of the ingest's admin; the three repair actions need the
``ingest.repair_reconciliationrun`` permission. Keys and lines come from System Two: escaped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ingest.admin.helpers import BigTableAdmin, ReadOnlyAdminMixin, format_seconds, import_file_link, status_badge
from ingest.admin.raw_lines import raw_line_block
from ingest.models.reconciliation import (
    Category,
    ReconciliationDrift,
    ReconciliationLineError,
    ReconciliationRun,
    RunStatus,
)
from ingest.services.repair.reconcile import Requested, repair, resend_rows

RUN_BADGES: dict[str, str] = {RunStatus.DONE: "imported", RunStatus.FAILED: "failed", RunStatus.RUNNING: "running"}


def drift_url(run_id: int, category: str = "") -> str:
    params = {"run__id__exact": str(run_id)}
    if category:
        params["category__exact"] = category
    return reverse("admin:ingest_reconciliationdrift_changelist") + "?" + urlencode(params)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "stream",
        "taken_at",
        "complete",
        "rows_kind",
        "lines_total",
        "in_sync",
        "missing",
        "behind",
        "ahead",
        "differs",
        "only_on_website",
        "line_errors",
        "repaired_display",
        "duration_display",
        "status_display",
    )
    list_filter = ("status", "stream", "complete", "rows_kind", "trigger")
    date_hierarchy = "created_at"
    search_fields = ("=id", "source")
    actions = ["apply_repairs", "apply_content", "apply_deletes"]
    fields = (
        "stream",
        "source",
        "taken_at",
        "complete",
        "rows_kind",
        "trigger",
        "status_display",
        "error_message",
        "lines_total",
        "categories_display",
        "line_errors_link",
        "repaired_display",
        "lineage_link",
        "resend_links",
        "started_at",
        "finished_at",
        "duration_display",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("ingest/admin.css",)}

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self):
        own = [
            path(
                "<int:run_id>/resend.csv",
                self.admin_site.admin_view(self.resend_csv),
                name="ingest_reconciliationrun_resend_csv",
            ),
            path(
                "<int:run_id>/resend.jsonl",
                self.admin_site.admin_view(self.resend_jsonl),
                name="ingest_reconciliationrun_resend_jsonl",
            ),
        ]
        return own + super().get_urls()

    # --- columns ---------------------------------------------------------------------------------
    @admin.display(description="status")
    def status_display(self, obj: ReconciliationRun):
        return status_badge(RUN_BADGES.get(obj.status, "pending"), obj.status)

    @admin.display(description="repaired (missing+behind / content / deletes)")
    def repaired_display(self, obj: ReconciliationRun) -> str:
        return f"{obj.repaired} / {obj.content_repaired} / {obj.deletes_applied}"

    @admin.display(description="duration")
    def duration_display(self, obj: ReconciliationRun) -> str:
        return format_seconds(obj.duration_seconds)

    @admin.display(description="keys by category (as found, before any repair)")
    def categories_display(self, obj: ReconciliationRun):
        items = [("in_sync", obj.in_sync, "")] + [
            (c.value, getattr(obj, c.value), drift_url(obj.pk, c.value)) for c in Category
        ]
        return format_html_join(
            " · ",
            "{}",
            (
                (format_html('<a href="{}">{}: {}</a>', url, name, n) if url and n else format_html("{}: {}", name, n),)
                for name, n, url in items
            ),
        )

    @admin.display(description="line errors")
    def line_errors_link(self, obj: ReconciliationRun):
        if not obj.line_errors:
            return "0"
        url = reverse("admin:ingest_reconciliationlineerror_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.line_errors)

    @admin.display(description="repaired rows' last import")
    def lineage_link(self, obj: ReconciliationRun):
        return import_file_link(obj.lineage_id)

    @admin.display(description="keys System Two must send again")
    def resend_links(self, obj: ReconciliationRun):
        return format_html(
            '<a href="{}">CSV</a> · <a href="{}">JSON Lines</a>',
            reverse("admin:ingest_reconciliationrun_resend_csv", args=[obj.pk]),
            reverse("admin:ingest_reconciliationrun_resend_jsonl", args=[obj.pk]),
        )

    # --- resend list -------------------------------------------------------------------------------
    def _resend(self, request, run_id: int, extension: str, content_type: str, lines: Iterator[str]):
        response = StreamingHttpResponse(lines, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="resend-run-{run_id}.{extension}"'
        return response

    def _run_for(self, request, run_id: int) -> ReconciliationRun:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(ReconciliationRun, pk=run_id)

    def resend_jsonl(self, request, run_id: int):
        run = self._run_for(request, run_id)
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in resend_rows(run))
        return self._resend(request, run_id, "jsonl", "application/jsonl; charset=utf-8", lines)

    def resend_csv(self, request, run_id: int):
        run = self._run_for(request, run_id)

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["stream", "key", "reason"])
            for row in resend_rows(run):
                writer.writerow([row["stream"], json.dumps(row["key"], ensure_ascii=False), row["reason"]])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            yield buffer.getvalue()

        return self._resend(request, run_id, "csv", "text/csv; charset=utf-8", lines())

    # --- repairs -----------------------------------------------------------------------------------
    def has_repair_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('repair', opts)}")

    def _repair(self, request, queryset, requested: Requested, label: str) -> None:
        done, skipped = [], []
        for run in queryset.order_by("pk"):
            if run.status != RunStatus.DONE or run.rows_kind != "full":
                skipped.append(f"#{run.pk} ({run.status}, {run.rows_kind or '?'} rows)")
                continue
            applied = sum(repair(run, requested).values())
            done.append(f"#{run.pk}: {applied}")
        if done:
            self.message_user(request, f"{label} applied: {', '.join(done)} row(s).", level=messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Not repaired (only a finished run of a full snapshot can): {', '.join(skipped)}.",
                level=messages.WARNING,
            )

    @admin.action(permissions=["repair"], description="Apply repairs: missing and behind keys (snapshot's rows)")
    def apply_repairs(self, request, queryset) -> None:
        self._repair(request, queryset, Requested(apply=True), "Repairs")

    @admin.action(permissions=["repair"], description="Apply content: overwrite differs rows at the same version")
    def apply_content(self, request, queryset) -> None:
        self._repair(request, queryset, Requested(apply_content=True), "Content repairs")

    @admin.action(permissions=["repair"], description="Apply deletes: mark only_on_website rows deleted")
    def apply_deletes(self, request, queryset) -> None:
        self._repair(request, queryset, Requested(apply_deletes=True), "Deletes")


@admin.register(ReconciliationDrift)
class ReconciliationDriftAdmin(BigTableAdmin):
    list_display = (
        "key_display",
        "category",
        "resolution",
        "website_version",
        "snapshot_version",
        "website_occurred_at",
        "snapshot_occurred_at",
        "website_deleted",
        "snapshot_deleted",
        "run_link",
    )
    list_filter = ("category", "resolution")
    search_fields = ("key_json",)
    fields = (
        "run_link",
        "category",
        "resolution",
        "key_display",
        "website_version",
        "snapshot_version",
        "website_occurred_at",
        "snapshot_occurred_at",
        "website_deleted",
        "snapshot_deleted",
        "line_number",
        "snapshot_line_block",
    )
    readonly_fields = fields

    @admin.display(description="key")
    def key_display(self, obj: ReconciliationDrift):
        return format_html('<code class="ingest-key">{}</code>', obj.key_json)

    @admin.display(description="run")
    def run_link(self, obj: ReconciliationDrift):
        url = reverse("admin:ingest_reconciliationrun_change", args=[obj.run_id])
        return format_html('<a href="{}">#{}</a>', url, obj.run_id)

    @admin.display(description="snapshot's line")
    def snapshot_line_block(self, obj: ReconciliationDrift):
        return raw_line_block(obj.snapshot_line) if obj.snapshot_line else "-"


@admin.register(ReconciliationLineError)
class ReconciliationLineErrorAdmin(BigTableAdmin):
    list_display = ("run_id", "line_number", "message", "raw_excerpt")
    fields = ("run", "line_number", "message", "raw_block")
    readonly_fields = fields

    @admin.display(description="line")
    def raw_excerpt(self, obj: ReconciliationLineError) -> str:
        return obj.raw_text[:120]

    @admin.display(description="line (as in the snapshot)")
    def raw_block(self, obj: ReconciliationLineError):
        return raw_line_block(obj.raw_text)
