"""Lag and throughput figures of the ingest, for the admin, the demo and the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from django.db.models import QuerySet

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of already sorted values, interpolated linearly; None if empty."""
    if not sorted_values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(sorted_values[low])
    weight = rank - low
    return float(sorted_values[low]) * (1 - weight) + float(sorted_values[high]) * weight


def summarize(values: Iterable[float | None], percentiles: Iterable[float] = PERCENTILES) -> dict[str, float | None]:
    """``{"count", "mean", "min", "max", "p50", "p95", "p99"}`` of the values that are not None."""
    data = sorted(float(v) for v in values if v is not None)
    out: dict[str, float | None] = {
        "count": len(data),
        "mean": sum(data) / len(data) if data else None,
        "min": data[0] if data else None,
        "max": data[-1] if data else None,
    }
    for q in percentiles:
        out[f"p{q:g}"] = percentile(data, q)
    return out


def lag_percentiles(queryset: QuerySet, field: str = "lag_seconds") -> dict[str, float | None]:
    """Lag from the S3 event to committed rows (``ImportFile.lag_seconds``) over the files of a queryset:
    count, mean, min, max, p50, p95, p99 in seconds (None where there is no data)."""
    return summarize(queryset.filter(**{f"{field}__isnull": False}).values_list(field, flat=True))
