"""Firehose's failed records in the admin: stream, reason, raw event, when; and the redrive action.

Read-only like the rest of the ingest's admin; the redrive action needs the
``ingest.redrive_failedrecord`` permission. Raw events are shown as text, escaped.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.utils.html import format_html

from ingest.admin.helpers import BigTableAdmin, import_file_link, status_badge, truncate
from ingest.admin.raw_lines import raw_line_block
from ingest.models import ErrorOutputFile, FailedRecord, FailedRecordStatus
from ingest.services.intake.error_output import raw_event
from ingest.services.repair.redrive import redrive

MAX_REASONS_SHOWN = 3


def _raw_event_text(obj: FailedRecord) -> str:
    body = raw_event(obj)
    if body is None:
        return obj.raw_data or obj.error_message
    return body.decode("utf-8", "backslashreplace")


@admin.register(FailedRecord)
class FailedRecordAdmin(BigTableAdmin):
    list_display = ("id", "stream", "status_display", "reason_display", "arrival_at", "raw_display", "redriven_link")
    list_filter = ("status", "stream")
    sortable_by = ("arrival_at", "id")
    date_hierarchy = "arrival_at"
    search_fields = ("=id",)
    actions = ["redrive_selected"]
    fields = (
        "stream",
        "status_display",
        "reason_block",
        "arrival_at",
        "attempt_ending_at",
        "attempts_made",
        "error_code",
        "error_message_block",
        "raw_event_block",
        "raw_data",
        "lambda_arn",
        "redrive_attempts",
        "last_redrive_at",
        "redriven_link",
        "error_file_display",
        "line_number",
    )
    readonly_fields = fields

    def get_actions(self, request):
        # BigTableAdmin turns actions off; this admin has one.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="status")
    def status_display(self, obj: FailedRecord):
        return status_badge("imported" if obj.status == FailedRecordStatus.REDRIVEN else "failed", obj.status)

    @admin.display(description="reason")
    def reason_display(self, obj: FailedRecord) -> str:
        return truncate(obj.reason, 120)

    @admin.display(description="reason")
    def reason_block(self, obj: FailedRecord):
        return raw_line_block(obj.reason)

    @admin.display(description="Firehose's error message")
    def error_message_block(self, obj: FailedRecord):
        return raw_line_block(obj.error_message)

    @admin.display(description="raw event")
    def raw_display(self, obj: FailedRecord):
        return format_html('<code class="ingest-raw-event">{}</code>', truncate(_raw_event_text(obj), 100))

    @admin.display(description="raw event (as System Two sent it)")
    def raw_event_block(self, obj: FailedRecord):
        return raw_line_block(_raw_event_text(obj))

    @admin.display(description="redriven in")
    def redriven_link(self, obj: FailedRecord):
        return import_file_link(obj.redriven_in_id)

    @admin.display(description="error-output file")
    def error_file_display(self, obj: FailedRecord) -> str:
        return str(obj.error_file)

    # --- redrive ---------------------------------------------------------------------------
    def has_redrive_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('redrive', opts)}")

    @admin.action(permissions=["redrive"], description="Redrive selected records (today's transform)")
    def redrive_selected(self, request, queryset) -> None:
        report = redrive(record_ids=queryset.values_list("pk", flat=True))
        message = f"Redrive: {report.passed} record(s) pass and go to the import"
        if report.files:
            message += f" (file(s) {', '.join(f'#{pk}' for pk in report.files)})"
        message += f"; {report.still_failing} still fail."
        reasons: dict[str, int] = {}
        for stream in report.streams.values():
            for reason, n in stream.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        if reasons:
            top = sorted(reasons.items(), key=lambda item: -item[1])[:MAX_REASONS_SHOWN]
            message += " Now: " + "; ".join(f"{reason} ({n})" for reason, n in top)
        level = messages.WARNING if report.still_failing else messages.SUCCESS
        self.message_user(request, message, level=level)


@admin.register(ErrorOutputFile)
class ErrorOutputFileAdmin(BigTableAdmin):
    list_display = ("id", "stream", "key", "records_count", "created_at")
    list_filter = ("stream",)
    search_fields = ("=id",)
    fields = (
        "bucket",
        "key",
        "etag",
        "stream",
        "size",
        "records_count",
        "s3_event_time",
        "registered_by",
        "created_at",
    )
    readonly_fields = fields
