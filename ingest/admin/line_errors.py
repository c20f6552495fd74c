"""Every bad line of every import in the admin, with its raw text as far as a page shows it."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models.functions import Substr
from django.utils.html import format_html

from ingest.admin.helpers import (
    BigTableAdmin,
    import_file_link,
    truncate,
)
from ingest.admin.raw_lines import (
    raw_excerpt_block,
    with_raw_excerpt,
)
from ingest.models import ImportLineError


@admin.register(ImportLineError)
class ImportLineErrorAdmin(BigTableAdmin):
    list_display = ("import_file_display", "line_number", "message_display", "raw_display")
    list_display_links = ("line_number",)
    # By the id column, not the relation: ordering by ``import_file`` would join ImportFile for its ordering.
    ordering = ("import_file_id", "line_number", "id")
    sortable_by = ()
    fields = ("import_file_display", "attempt", "line_number", "message", "raw_line", "created_at")
    readonly_fields = fields

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm("ingest.view_importfile")

    def get_queryset(self, request):
        # The list shows 200 characters of each line, the detail page RAW_LINE_DISPLAY_CHARS.
        return super().get_queryset(request).defer("raw_text").annotate(raw_excerpt=Substr("raw_text", 1, 201))

    def get_object(self, request, object_id, from_field=None):
        queryset = with_raw_excerpt(super().get_queryset(request))
        try:
            return queryset.get(pk=ImportLineError._meta.pk.to_python(object_id))
        except (ImportLineError.DoesNotExist, ValidationError, ValueError):
            return None

    @admin.display(description="import")
    def import_file_display(self, obj: ImportLineError):
        return import_file_link(obj.import_file_id)

    @admin.display(description="message")
    def message_display(self, obj: ImportLineError) -> str:
        return truncate(obj.message, 200)

    @admin.display(description="raw line")
    def raw_display(self, obj: ImportLineError):
        return format_html("<code>{}</code>", truncate(obj.raw_excerpt, 200))

    @admin.display(description="raw line (as in the file)")
    def raw_line(self, obj: ImportLineError):
        return raw_excerpt_block(obj.raw_excerpt)
