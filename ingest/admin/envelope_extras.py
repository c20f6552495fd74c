"""The unknown envelope members of a file's events, on the file's page (kept on the import's record)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from ingest.admin.helpers import ReadOnlyAdminMixin
from ingest.models import ImportFile
from ingest.models.contract_drift import EnvelopeExtras

INLINE_BATCHES = 5  # rows shown (one per batch of the import), each up to INGEST_BATCH_SIZE events
EVENTS_SHOWN = 50  # events shown per row


class _Capped(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_capped_queryset"):
            self._capped_queryset = super().get_queryset()[:INLINE_BATCHES]
        return self._capped_queryset


class EnvelopeExtrasInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EnvelopeExtras
    formset = _Capped
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    classes = ("ingest-inline",)
    verbose_name = "unknown envelope members"
    verbose_name_plural = f"unknown envelope members of the events (the first {INLINE_BATCHES} batches)"
    fields = ("first_line", "last_line", "events", "members")
    readonly_fields = fields
    ordering = ("first_line", "id")

    def has_view_permission(self, request, obj=None) -> bool:
        opts = ImportFile._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")

    @admin.display(description=f"line, eventId and members (the first {EVENTS_SHOWN})")
    def members(self, obj: EnvelopeExtras):
        shown = obj.extras[:EVENTS_SHOWN]
        text = "\n".join(json.dumps(item, ensure_ascii=False, sort_keys=True) for item in shown)
        return format_html('<pre class="ingest-raw">{}</pre>', text)
