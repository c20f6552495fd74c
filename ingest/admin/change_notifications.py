"""The outbox in the admin: which keys each import changed and whether the website was told."""

from __future__ import annotations

from django.contrib import admin

from ingest.admin.helpers import BigTableAdmin, import_file_link, truncate
from ingest.models import ChangeNotification


@admin.register(ChangeNotification)
class ChangeNotificationAdmin(BigTableAdmin):
    """The change outbox: what each import changed, and whether the website's receivers got it."""

    list_display = ("id", "stream", "import_link", "part", "created_at", "delivered_at", "attempts", "error_display")
    list_filter = ("stream",)
    sortable_by = ("created_at", "id")
    search_fields = ("=import_file__id",)
    fields = (
        "stream",
        "import_link",
        "part",
        "created_at",
        "delivered_at",
        "attempts",
        "last_error",
        "created_keys",
        "updated_keys",
        "deleted_keys",
    )
    readonly_fields = fields

    @admin.display(description="import")
    def import_link(self, obj: ChangeNotification):
        return import_file_link(obj.import_file_id)

    @admin.display(description="last error")
    def error_display(self, obj: ChangeNotification) -> str:
        return truncate(obj.last_error, 120)
