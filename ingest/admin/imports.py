"""Every import in the admin: the file list and page, its attempts and first bad lines inline, re-import."""

from __future__ import annotations

from collections import defaultdict
from typing import cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ingest.admin import views as admin_views
from ingest.admin.envelope_extras import EnvelopeExtrasInline
from ingest.admin.helpers import (
    BigTableAdmin,
    ReadOnlyAdminMixin,
    status_badge,
)
from ingest.admin.raw_lines import (
    INLINE_LINE_ERRORS,
    raw_excerpt_block,
    raw_line_block,
    with_raw_excerpt,
)
from ingest.models import ImportAttempt, ImportFile, ImportLineError
from ingest.services.observing.durations import format_seconds
from ingest.services.repair.reimport import ReimportReport, reimport_files

# How many skip reasons a re-import message spells out.
MAX_REASONS_SHOWN = 5


class ParentViewPermissionInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Whoever may see a file sees its attempts and bad lines (no separate view permission needed)."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    classes = ("ingest-inline",)

    def has_view_permission(self, request, obj=None) -> bool:
        opts = ImportFile._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")


class ImportAttemptInline(ParentViewPermissionInline):
    model = ImportAttempt
    verbose_name_plural = "attempts (every run of the importer over this file)"
    fields = ("number", "trigger", "attempt_status", "started", "duration", "counts", "worker", "task_id", "error")
    readonly_fields = fields

    @admin.display(description="started")
    def started(self, obj: ImportAttempt) -> str:
        return obj.started_at.isoformat(sep=" ", timespec="seconds") if obj.started_at else "-"

    @admin.display(description="lines")
    def counts(self, obj: ImportAttempt) -> str:
        return (
            f"{obj.lines_total} lines: {obj.rows_created} created, {obj.rows_updated} updated, "
            f"{obj.rows_stale} stale, {obj.rows_deleted} deleted, {obj.placeholders_created} placeholders, "
            f"{obj.errors_count} bad"
        )

    @admin.display(description="status")
    def attempt_status(self, obj: ImportAttempt):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="duration")
    def duration(self, obj: ImportAttempt) -> str:
        return format_seconds(obj.duration_seconds)

    @admin.display(description="error")
    def error(self, obj: ImportAttempt):
        return raw_line_block(obj.error_message) if obj.error_message else "-"


class CappedInlineFormSet(BaseInlineFormSet):
    """Only the first ``INLINE_LINE_ERRORS`` rows: a file may have thousands of bad lines."""

    def get_queryset(self):
        if not hasattr(self, "_capped_queryset"):
            self._capped_queryset = super().get_queryset()[:INLINE_LINE_ERRORS]
        return self._capped_queryset


class ImportLineErrorInline(ParentViewPermissionInline):
    model = ImportLineError
    formset = CappedInlineFormSet
    verbose_name = "line error"
    verbose_name_plural = f"line errors (the first {INLINE_LINE_ERRORS} by line number)"
    fields = ("line_number", "attempt_number", "message", "raw_line")
    readonly_fields = fields
    ordering = ("line_number", "id")

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("attempt").order_by("line_number", "id")
        return with_raw_excerpt(qs)

    @admin.display(description="attempt")
    def attempt_number(self, obj: ImportLineError):
        return obj.attempt.number if obj.attempt is not None else "-"

    @admin.display(description="raw line (as in the file)")
    def raw_line(self, obj: ImportLineError):
        return raw_excerpt_block(obj.raw_excerpt)


@admin.register(ImportFile)
class ImportFileAdmin(BigTableAdmin):
    list_display = (
        "id",
        "stream",
        "key_display",
        "status_display",
        "lines",
        "created",
        "updated",
        "stale",
        "deleted",
        "placeholders",
        "errors",
        "lag",
        "finished_at",
    )
    list_display_links = ("id", "key_display")
    # Newest first (an index), or by id. Sorting 100,000s of files by another column would read them all:
    # filter first (status, stream, date), or see lag percentiles on the freshness dashboard.
    sortable_by = ("id",)
    list_filter = ("status", "stream")
    date_hierarchy = "created_at"
    search_fields = ("key__startswith",)
    search_help_text = "The start of the key (orders/2026/11/27/…), an s3://bucket/key URI, or a file id."
    actions = ["reimport_selected"]
    inlines = (ImportAttemptInline, ImportLineErrorInline, EnvelopeExtrasInline)
    fieldsets = (
        (
            "File",
            {"fields": ("uri", "stream", "size", "etag", "version_id", "sequencer", "registered_by", "created_at")},
        ),
        ("Status", {"fields": ("status_display", "error", "attempts_count", "redeliveries")}),
        ("Timeline", {"fields": ("timeline",)}),
        (
            "Lines",
            {
                "fields": (*ImportFile.COUNT_FIELDS, "line_errors_summary"),
            },
        ),
    )
    # Everything on the page is read-only: the fields are exactly those the fieldsets show.
    # (Flat names only: no field is grouped on a line.)
    readonly_fields = tuple(cast(str, name) for _title, options in fieldsets for name in options["fields"])

    # --- columns --------------------------------------------------------------------------
    @admin.display(description="key")
    def key_display(self, obj: ImportFile):
        return format_html('<span title="{}">{}</span>', obj.uri, obj.key)

    @admin.display(description="status")
    def status_display(self, obj: ImportFile):
        return status_badge(obj.status, obj.get_status_display())

    # Short headers for the count columns, so that the list fits a screen.
    @admin.display(description="lines")
    def lines(self, obj: ImportFile) -> int:
        return obj.lines_total

    @admin.display(description="created")
    def created(self, obj: ImportFile) -> int:
        return obj.rows_created

    @admin.display(description="updated")
    def updated(self, obj: ImportFile) -> int:
        return obj.rows_updated

    @admin.display(description="stale")
    def stale(self, obj: ImportFile) -> int:
        return obj.rows_stale

    @admin.display(description="deleted")
    def deleted(self, obj: ImportFile) -> int:
        return obj.rows_deleted

    @admin.display(description="placeholders")
    def placeholders(self, obj: ImportFile) -> int:
        return obj.placeholders_created

    @admin.display(description="errors")
    def errors(self, obj: ImportFile) -> int:
        return obj.errors_count

    @admin.display(description="lag")
    def lag(self, obj: ImportFile) -> str:
        return format_seconds(obj.lag_seconds)

    @admin.display(description="S3 object or local file")
    def uri(self, obj: ImportFile) -> str:
        return obj.uri

    @admin.display(description="error")
    def error(self, obj: ImportFile):
        return raw_line_block(obj.error_message) if obj.error_message else "-"

    @admin.display(description="timeline")
    def timeline(self, obj: ImportFile):
        steps = [
            ("S3 event", obj.s3_event_time),
            ("received", obj.received_at),
            ("enqueued", obj.enqueued_at),
            ("started", obj.started_at),
            ("finished", obj.finished_at),
        ]
        rows = []
        previous = None
        for label, moment in steps:
            if moment is None:
                rows.append((label, "-", ""))
                continue
            delta = f"+{format_seconds((moment - previous).total_seconds())}" if previous else ""
            rows.append((label, moment.isoformat(sep=" ", timespec="milliseconds"), delta))
            previous = moment
        body = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td><td class="ingest-delta">{}</td></tr>', rows)
        return format_html(
            '<table class="ingest-timeline">{}'
            '<tr><th scope="row">import took</th><td>{}</td><td></td></tr>'
            '<tr><th scope="row">lag</th><td>{}</td>'
            '<td class="ingest-delta">S3 event (or registration) to committed rows</td></tr>'
            "</table>",
            body,
            format_seconds(obj.duration_seconds),
            format_seconds(obj.lag_seconds),
        )

    @admin.display(description="line errors")
    def line_errors_summary(self, obj: ImportFile):
        url = reverse("admin:ingest_importlineerror_changelist") + f"?import_file={obj.pk}"
        return format_html(
            "{} bad line(s) in the last attempt. Below: the first {} line errors of all attempts; "
            '<a href="{}">every line error of this file</a>.',
            obj.errors_count,
            INLINE_LINE_ERRORS,
            url,
        )

    # --- search ---------------------------------------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.startswith("s3://"):
            bucket, _, prefix = term.removeprefix("s3://").partition("/")
            return queryset.filter(bucket=bucket, key__startswith=prefix), False
        if term.isdigit():
            return queryset.filter(Q(pk=int(term)) | Q(key__startswith=term)), False
        return super().get_search_results(request, queryset, term)

    # --- re-import ------------------------------------------------------------------------
    def has_reimport_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('reimport', opts)}")

    @admin.action(permissions=["reimport"], description="Re-import selected files")
    def reimport_selected(self, request, queryset) -> None:
        self.reimport(request, queryset)

    def reimport(self, request, queryset) -> ReimportReport:
        # Through the worker queue, like ``manage.py reimport``; in the request only where configured.
        report = reimport_files(queryset, sync=settings.INGEST_ADMIN_REIMPORT_SYNC)
        self._log_reimport(request, report)
        failed = sum(1 for o in report.imported if o.failed)
        message = f"Re-import: {report.summary()}."
        if report.skipped:
            reasons = "; ".join(f"#{pk}: {reason}" for pk, reason in report.skipped[:MAX_REASONS_SHOWN])
            more = len(report.skipped) - MAX_REASONS_SHOWN
            message += f" Skipped {reasons}" + (f" and {more} more." if more > 0 else ".")
        level = messages.WARNING if report.skipped or failed else messages.SUCCESS
        self.message_user(request, message, level=level)
        return report

    def _log_reimport(self, request, report: ReimportReport) -> None:
        # One LogEntry per file, written in bulk per message (a selection may hold thousands of files).
        by_message: dict[str, list[int]] = defaultdict(list)
        for pk in report.enqueued:
            by_message["Re-import requested: enqueued for a worker."].append(pk)
        for outcome in report.imported:
            by_message[f"Re-imported in the admin: {outcome.status}."].append(outcome.import_file_id)
        for pk, reason in report.skipped:
            by_message[f"Re-import requested, skipped: {reason}"].append(pk)
        for message, ids in by_message.items():
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=ImportFile.objects.filter(pk__in=ids).order_by(),
                action_flag=CHANGE,
                change_message=message,
            )

    # --- pages ----------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        custom = [
            path("freshness/", wrap(self.freshness_view), name="ingest_freshness"),
            path("<path:object_id>/reimport/", wrap(self.reimport_view), name="ingest_importfile_reimport"),
        ]
        return custom + super().get_urls()

    def freshness_view(self, request):
        return admin_views.freshness_view(self, request)

    def reimport_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_reimport_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            # What the change view answers for a missing object (a message and the changelist).
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        self.reimport(request, ImportFile.objects.filter(pk=obj.pk))
        return HttpResponseRedirect(reverse("admin:ingest_importfile_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_reimport": self.has_reimport_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)
