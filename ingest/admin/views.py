"""Admin-only pages of the ingest: the freshness dashboard. Served under the ImportFile admin's URLs
(``ImportFileAdmin.get_urls``), so ``admin_view`` makes them staff-only and CSRF-protected."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ingest.admin.charts import lag_chart, rows_chart
from ingest.admin.reconcile_rows import reconciliation_rows
from ingest.models import FailedRecordStatus, ImportStatus
from ingest.services.observing.durations import format_seconds
from ingest.services.observing.freshness import StreamFreshness, stream_freshness
from ingest.services.observing.hourly import HourlySeries, hourly_series


@dataclass(frozen=True)
class FreshnessRow:
    """One stream's figures, formatted, with the changelist links the dashboard offers."""

    f: StreamFreshness
    stream_url: str
    last_url: str
    pending_url: str
    failed_url: str
    age: str
    lag_p50: str
    lag_p95: str
    error_rate: str
    file_error_rate: str
    oldest_pending: str
    event_age: str
    event_lag_hour: str
    event_lag_day: str


@dataclass(frozen=True)
class StreamCharts:
    stream: str
    lag_day: str
    rows_day: str
    lag_week: str
    rows_week: str


def stream_charts(series: dict[str, HourlySeries]) -> list[StreamCharts]:
    out = []
    for stream, week in series.items():
        day = week.last(24)
        out.append(
            StreamCharts(
                stream=stream,
                lag_day=lag_chart(f"{stream}: event-to-row lag, last 24 h", day.hours, day.lag_p50, day.lag_p95),
                rows_day=rows_chart(f"{stream}: rows per hour, last 24 h", day.hours, day.rows),
                lag_week=lag_chart(
                    f"{stream}: event-to-row lag, last 7 days", week.hours, week.lag_p50, week.lag_p95, tooltips=False
                ),
                rows_week=rows_chart(f"{stream}: rows per hour, last 7 days", week.hours, week.rows, tooltips=False),
            )
        )
    return out


def _pair(p50: float | None, p95: float | None) -> str:
    return "-" if p50 is None and p95 is None else f"{format_seconds(p50)} / {format_seconds(p95)}"


def _percent(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0 %"
    return f"{value * 100:.2f} %" if value < 0.1 else f"{value * 100:.1f} %"


def _changelist_url(**params: str) -> str:
    url = reverse("admin:ingest_importfile_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _last_import_url(f: StreamFreshness) -> str:
    if f.last_import is None:
        return ""
    if f.last_import.pruned:  # the file is gone; its ledger entry says what it was
        return reverse("admin:ingest_importledgerentry_changelist") + "?" + urlencode({"q": f.last_import.key})
    return reverse("admin:ingest_importfile_change", args=[f.last_import.id])


def freshness_rows(items: list[StreamFreshness]) -> list[FreshnessRow]:
    now = timezone.now()
    rows = []
    for f in items:
        rows.append(
            FreshnessRow(
                f=f,
                stream_url=_changelist_url(stream__exact=f.stream),
                last_url=_last_import_url(f),
                pending_url=_changelist_url(stream__exact=f.stream, status__exact=ImportStatus.PENDING),
                failed_url=_changelist_url(stream__exact=f.stream, status__exact=ImportStatus.FAILED),
                age=format_seconds(f.age_seconds) if f.age_seconds is not None else "never",
                lag_p50=format_seconds(f.lag_p50_seconds),
                lag_p95=format_seconds(f.lag_p95_seconds),
                error_rate=_percent(f.error_rate),
                file_error_rate=_percent(f.file_error_rate),
                oldest_pending=(
                    format_seconds((now - f.oldest_pending_at).total_seconds()) if f.oldest_pending_at else "-"
                ),
                event_age=format_seconds(f.event_age_seconds) if f.event_age_seconds is not None else "never",
                event_lag_hour=_pair(f.event_lag_hour.p50, f.event_lag_hour.p95),
                event_lag_day=_pair(f.event_lag_day.p50, f.event_lag_day.p95),
            )
        )
    return rows


def freshness_view(model_admin, request):
    """Per stream: last import and its age, the last hour and day, lag percentiles, backlog."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    items = stream_freshness()
    rows = freshness_rows(items)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Ingest freshness",
        "opts": model_admin.opts,
        "rows": rows,
        "stale_count": sum(1 for f in items if f.stale),
        "stale_after": format_seconds(settings.INGEST_STALE_AFTER_SECONDS),
        "generated_at": timezone.now(),
        "changelist_url": _changelist_url(),
        "failed_url": _changelist_url(status__exact=ImportStatus.FAILED),
        "charts": stream_charts(hourly_series()),
        "reconciliations": reconciliation_rows(),  # issue 19: last reconciliation, open drift
        "rejected_url": reverse("admin:ingest_failedrecord_changelist")
        + f"?{urlencode({'status__exact': FailedRecordStatus.REJECTED})}",
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/ingest/freshness.html", context)
