"""The "contract drift" page: per stream, what System Two sends that the contract does not name.

Two tables for the chosen stream: every unknown field seen (dotted path, JSON types, events
carrying it, first and last seen, a sample value; ``UnknownField``, written once per import), and
the stream's records the transform still rejects, grouped by field and reason (a type change or a
new enum value is one line with its count and first/last arrival). Read-only; the page answers
with a handful of queries whatever the size of the tables (one GROUP BY for the failed records).
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ingest.admin.helpers import ReadOnlyAdminMixin
from ingest.models import FailedRecordStatus
from ingest.models.contract_drift import UnknownField
from ingest.services.observing.contract_drift import label, rejected_groups
from transforms.streams import STREAM_NAMES

SAMPLE_DISPLAY_CHARS = 120


@admin.register(UnknownField)
class ContractDriftAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The model's changelist is the drift page (``?stream=…``); there is no page per field."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        stream = request.GET.get("stream") or STREAM_NAMES[0]
        if stream not in STREAM_NAMES:
            stream = STREAM_NAMES[0]
        fields = [
            {
                "path": label(u.scope, u.path),
                "scope": u.scope,
                "types": ", ".join(u.json_types),
                "events": u.events,
                "first_seen": u.first_seen,
                "last_seen": u.last_seen,
                "sample": _sample(u.sample),
                "last_import_url": (
                    reverse("admin:ingest_importfile_change", args=[u.last_import_id]) if u.last_import_id else ""
                ),
                "last_import_id": u.last_import_id,
            }
            for u in UnknownField.objects.filter(stream=stream).order_by("scope", "path")
        ]
        counts = dict(UnknownField.objects.values_list("stream").order_by().annotate(n=Count("id")))
        rejected_url = reverse("admin:ingest_failedrecord_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Contract drift: {stream}",
            "opts": self.opts,
            "stream": stream,
            "streams": [(name, counts.get(name, 0)) for name in STREAM_NAMES],
            "fields": fields,
            "groups": rejected_groups(stream),
            "rejected_url": f"{rejected_url}?status__exact={FailedRecordStatus.REJECTED}&stream__exact={stream}",
            "generated_at": timezone.now(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/ingest/contract_drift.html", context)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _sample(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SAMPLE_DISPLAY_CHARS else text[: SAMPLE_DISPLAY_CHARS - 1] + "…"
