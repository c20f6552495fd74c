"""Prometheus gauges of reconciliation, read from the database at scrape time (see
``ingest.services.observing.prometheus.exposition``): open drift per stream and category, and the age of
each stream's latest finished reconciliation."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.services.repair.reconcile.status import stream_drift


class ReconcileCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        drift = GaugeMetricFamily(
            "ingest_reconcile_open_drift",
            "Keys the stream's latest reconciliation found out of sync and nothing has repaired yet"
            " (missing, behind, differs, only_on_website).",
            labels=["stream", "category"],
        )
        age = GaugeMetricFamily(
            "ingest_reconcile_last_run_age_seconds",
            "Seconds since the stream's latest reconciliation finished.",
            labels=["stream"],
        )
        now = timezone.now()
        for item in stream_drift():
            if item.last_run is None:
                continue
            for category, n in item.open.items():
                drift.add_metric([item.stream, str(category)], n)
            if item.last_run.finished_at is not None:
                age.add_metric([item.stream], (now - item.last_run.finished_at).total_seconds())
        yield drift
        yield age
