"""Building blocks shared by the ingest and website admins: read-only admins, a paginator that
never counts a huge table, and the small formatting helpers of the changelists.

Everything shown here may come from a file: it goes through ``format_html`` (which escapes its
arguments) and is never marked safe.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.db.models import Max, Min, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

# The admin modules show durations as the logs do; one function for both (services/observing).
from ingest.services.observing.durations import format_seconds as format_seconds

logger = logging.getLogger(__name__)

# Up to this many rows a changelist's count is exact; beyond it PostgreSQL's estimate is shown.
EXACT_COUNT_CAP = 10_000
# From this offset on, a page's rows are found by their ids first (see EstimatedCountPaginator.page).
DEFERRED_JOIN_OFFSET = 2_000

# Fixed CSS classes per status (ingest/static/ingest/admin.css); never derived from data.
STATUS_BADGE_CLASSES = {
    "pending": "ingest-badge ingest-badge--pending",
    "running": "ingest-badge ingest-badge--running",
    "imported": "ingest-badge ingest-badge--ok",
    "imported_with_errors": "ingest-badge ingest-badge--warn",
    "failed": "ingest-badge ingest-badge--error",
}
UNKNOWN_BADGE_CLASS = "ingest-badge"


def status_badge(status: str, label: str | None = None):
    css = STATUS_BADGE_CLASSES.get(status, UNKNOWN_BADGE_CLASS)
    return format_html('<span class="{}">{}</span>', css, label or status)


def truncate(text: str | None, limit: int) -> str:
    if text is None:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def import_file_link(import_file_id: int | None) -> str:
    """A link to the ImportFile page by id alone, so that a changelist row needs no join for it."""
    if import_file_id is None:
        return "-"
    url = reverse("admin:ingest_importfile_change", args=[import_file_id])
    return format_html('<a href="{}">import #{}</a>', url, import_file_id)


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ``EXACT_COUNT_CAP`` rows; beyond that, on PostgreSQL, uses the planner's
    estimate (``pg_class.reltuples`` for a whole table, ``EXPLAIN`` for a filtered one) instead of
    a COUNT(*) that would read millions of rows. ``estimated`` tells the template to say "about"."""

    cap = EXACT_COUNT_CAP

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.estimated = False

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not isinstance(qs, QuerySet) or connections[qs.db].vendor != "postgresql":
            return super().count
        unfiltered = not qs.query.where and not qs.query.distinct and not qs.query.combinator
        if unfiltered:
            estimate = self._table_estimate(qs)
            if estimate is not None and estimate > self.cap:
                self.estimated = True
                return estimate
        capped = qs.order_by()[: self.cap + 1].count()
        if capped <= self.cap:
            return capped
        self.estimated = True
        return max(self.cap + 1, self._plan_estimate(qs) or 0)

    def page(self, number):
        """A deep page (OFFSET of hundreds of thousands) on PostgreSQL as a deferred join: the page's
        ids first, by an index-only scan of the ordering's index (for the imports ``-created_at``,
        which carries the id), then only those rows. A plain OFFSET reads every skipped row."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        qs = self.object_list
        if (
            bottom < DEFERRED_JOIN_OFFSET
            or not isinstance(qs, QuerySet)
            or not qs.ordered
            or connections[qs.db].vendor != "postgresql"
        ):
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = qs.values("pk")[bottom:top]  # the same ordering, and only the key
        return self._get_page(qs.filter(pk__in=Subquery(ids)), number, self)  # type: ignore[attr-defined]

    @staticmethod
    def _table_estimate(qs: QuerySet) -> int | None:
        table = qs.model._meta.db_table
        with connections[qs.db].cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [f'"{table}"'])
            row = cursor.fetchone()
        # -1 (PostgreSQL 14+) or 0: never analysed; count for real.
        return int(row[0]) if row and row[0] and row[0] > 0 else None

    @staticmethod
    def _plan_estimate(qs: QuerySet) -> int | None:
        sql, params = qs.order_by().query.sql_with_params()
        try:
            with connections[qs.db].cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
        except DatabaseError:
            logger.warning("could not estimate the row count of %s", qs.model._meta.label, exc_info=True)
            return None
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])


def _period_starts(first: datetime, last: datetime, kind: str) -> list[date]:
    """The first day of every year, month or day from ``first`` to ``last`` (local dates)."""
    first_day, last_day = first.date(), last.date()
    if kind == "year":
        return [date(year, 1, 1) for year in range(first_day.year, last_day.year + 1)]
    if kind == "month":
        starts = []
        year, month = first_day.year, first_day.month
        while (year, month) <= (last_day.year, last_day.month):
            starts.append(date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return starts
    return [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]


def _next_period(start: date, kind: str) -> date:
    if kind == "year":
        return date(start.year + 1, 1, 1)
    if kind == "month":
        return date(start.year + 1, 1, 1) if start.month == 12 else date(start.year, start.month + 1, 1)
    return start + timedelta(days=1)


# Up to this many rows (the planner's estimate) a filtered list's date bounds are aggregated from the
# filtered rows themselves.
FEW_ROWS_FOR_BOUNDS = 50_000


def _few_rows_bounds(qs: QuerySet, field_name: str) -> dict[str, Any] | None:
    """MIN/MAX of ``field_name`` over a filter that matches few rows, computed from those rows.

    PostgreSQL answers ``MIN(created_at) WHERE key LIKE 'orders/2026/02/01%'`` by walking the
    date index from its end until a row matches: a key prefix matches one day, possibly a year
    away, so that walk reads millions of entries. ``OFFSET 0`` makes it find the rows first (by
    the key index) and aggregate them. None where that does not apply (then the index walk is right)."""
    connection = connections[qs.db]
    if connection.vendor != "postgresql" or not qs.query.where:
        return None
    estimate = EstimatedCountPaginator._plan_estimate(qs)
    if estimate is None or estimate > FEW_ROWS_FOR_BOUNDS:
        return None
    sql, params = qs.values(field_name).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(t.f), MAX(t.f) FROM ({sql} OFFSET 0) AS t(f)", params)  # noqa: S608
        first, last = cursor.fetchone()
    return {"first": first, "last": last}


class SparseDatesQuerySet(QuerySet):
    """A queryset whose ``datetimes()`` (what the admin's date hierarchy lists) probes each candidate
    year, month or day with one index lookup instead of truncating the date of every row: two
    queries whose cost follows the number of periods (at most ``MAX_PERIODS``), not of rows."""

    MAX_PERIODS = 40

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in ("year", "month", "day") or order != "ASC" or tzinfo is not None or "__" in field_name:
            return super().datetimes(field_name, kind, order, tzinfo)
        base = self.order_by()
        bounds = _few_rows_bounds(base, field_name) or base.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        starts = _period_starts(timezone.localtime(bounds["first"]), timezone.localtime(bounds["last"]), kind)
        if len(starts) > self.MAX_PERIODS:
            return super().datetimes(field_name, kind, order, tzinfo)

        def moment(day: date) -> datetime:
            return timezone.make_aware(datetime(day.year, day.month, day.day))

        # The first moment of each period (NULL if none): ``ORDER BY field LIMIT 1`` makes the planner walk
        # the date index from the period's start, where an EXISTS may choose a sequential scan.
        probes = {
            f"p{i}": Subquery(
                base.filter(
                    **{f"{field_name}__gte": moment(start), f"{field_name}__lt": moment(_next_period(start, kind))}
                )
                .order_by(field_name)
                .values(field_name)[:1]
            )
            for i, start in enumerate(starts)
        }
        # The probes do not depend on the row they are selected with; any one row carries them.
        found = self.model._default_manager.using(self.db).order_by().annotate(**probes).values(*probes).first()
        if not found:
            return []
        return [moment(start) for i, start in enumerate(starts) if found[f"p{i}"] is not None]


class ReadOnlyAdminMixin:
    """Data written by the ingest only: anyone with the view permission may look, nobody may edit."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BigTableAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only changelist that stays fast on millions of rows: no full count, no joins per row."""

    show_full_result_count = False
    # Facet counts are a GROUP BY over the whole filtered table per filter: not on millions of rows.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 100
    list_select_related = ()
    actions: Sequence[Any] | None = None

    class Media:
        css = {"all": ("ingest/admin.css",)}

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if not self.date_hierarchy:
            return qs
        return SparseDatesQuerySet(model=qs.model, query=qs.query.chain(), using=qs.db)
