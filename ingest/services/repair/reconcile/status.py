"""Open drift per stream: what the latest finished reconciliation of each stream left to repair.

Open drift is the drift of a run that no repair has resolved, ``ahead`` keys excepted (a change
after the snapshot was taken is normal). Read by the freshness dashboard and the Prometheus gauges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Subquery

from ingest.models.reconciliation import Category, ReconciliationDrift, ReconciliationRun, Resolution, RunStatus
from transforms.streams import STREAM_NAMES

DRIFT_CATEGORIES = (Category.MISSING, Category.BEHIND, Category.DIFFERS, Category.ONLY_ON_WEBSITE)


@dataclass
class StreamDrift:
    stream: str
    last_run: ReconciliationRun | None = None
    open: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRIFT_CATEGORIES, 0))

    @property
    def open_total(self) -> int:
        return sum(self.open.values())


def stream_drift() -> list[StreamDrift]:
    """One entry per stream (in the streams' order), with its latest finished run, if any."""
    out = {stream: StreamDrift(stream) for stream in STREAM_NAMES}
    latest = (
        ReconciliationRun.objects.filter(stream=OuterRef("stream"), status=RunStatus.DONE)
        .order_by("-finished_at", "-pk")
        .values("pk")[:1]
    )
    for run in ReconciliationRun.objects.filter(status=RunStatus.DONE, pk=Subquery(latest)):
        if run.stream in out:
            out[run.stream].last_run = run
    runs = [d.last_run.pk for d in out.values() if d.last_run is not None]
    if not runs:
        return list(out.values())
    counted = (
        ReconciliationDrift.objects.filter(run_id__in=runs, resolution=Resolution.OPEN, category__in=DRIFT_CATEGORIES)
        .values("run__stream", "category")
        .annotate(n=Count("id"))
    )
    for row in counted:
        out[row["run__stream"]].open[row["category"]] = row["n"]
    return list(out.values())
