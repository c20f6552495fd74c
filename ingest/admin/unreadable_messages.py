"""SQS messages the ingest could not read (not an S3 event, or for no known bucket) in the admin."""

from __future__ import annotations

from django.contrib import admin

from ingest.admin.helpers import (
    BigTableAdmin,
    truncate,
)
from ingest.admin.raw_lines import (
    raw_line_block,
)
from ingest.models import UnreadableMessage


@admin.register(UnreadableMessage)
class UnreadableMessageAdmin(BigTableAdmin):
    list_display = ("message_id", "error_display", "receive_count", "received_at", "queue_url")
    sortable_by = ("received_at",)
    date_hierarchy = "received_at"
    search_fields = ("=message_id",)
    fields = ("queue_url", "message_id", "receive_count", "received_at", "error_block", "body_block")
    readonly_fields = fields

    @admin.display(description="error")
    def error_display(self, obj: UnreadableMessage) -> str:
        return truncate(obj.error, 160)

    @admin.display(description="error")
    def error_block(self, obj: UnreadableMessage):
        return raw_line_block(obj.error)

    @admin.display(description="body (as received)")
    def body_block(self, obj: UnreadableMessage):
        return raw_line_block(obj.body)
