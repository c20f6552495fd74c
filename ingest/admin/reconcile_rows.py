"""The freshness dashboard's reconciliation table: per stream, the latest finished reconciliation
and the drift it left open (``ingest.services.repair.reconcile.status``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from ingest.services.observing.durations import format_seconds
from ingest.services.repair.reconcile.status import StreamDrift, stream_drift


@dataclass
class ReconciliationRow:
    d: StreamDrift
    run_url: str
    drift_url: str
    taken: str
    open_total: int


def reconciliation_rows() -> list[ReconciliationRow]:
    rows = []
    for d in stream_drift():
        run = d.last_run
        run_url = reverse("admin:ingest_reconciliationrun_change", args=[run.pk]) if run else ""
        drift_url = (
            reverse("admin:ingest_reconciliationdrift_changelist") + f"?run__id__exact={run.pk}&resolution__exact=open"
            if run
            else ""
        )
        taken = run.taken_at.strftime("%Y-%m-%d %H:%M:%S") if run and run.taken_at else "-"
        rows.append(
            ReconciliationRow(
                d,
                run_url,
                drift_url,
                taken + (f" ({format_seconds(run.duration_seconds)})" if run else ""),
                d.open_total,
            )
        )
    return rows
