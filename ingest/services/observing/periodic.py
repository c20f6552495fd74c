"""What the consumer does for the operators every sweep interval: deliver the change notifications
left undelivered, log each stream's freshness by the ERP's clock, and (every
``INGEST_PRUNE_INTERVAL_SECONDS``) roll up the aggregates and prune what is past its retention."""

from __future__ import annotations

import logging

from ingest.services.changes.outbox import dispatch_undelivered
from ingest.services.observing.durations import format_seconds
from ingest.services.observing.freshness import stream_freshness
from ingest.services.retention.prune import prune_from_sweep

logger = logging.getLogger("ingest.freshness")


def log_freshness() -> list[str]:
    lines = []
    for f in stream_freshness():
        if f.newest_occurred_at is None and f.last_import is None:
            continue
        lines.append(
            f"freshness {f.stream}: newest event {format_seconds(f.event_age_seconds)} old; event-to-row lag "
            f"1 h p50 {format_seconds(f.event_lag_hour.p50)} p95 {format_seconds(f.event_lag_hour.p95)}, "
            f"24 h p50 {format_seconds(f.event_lag_day.p50)} p95 {format_seconds(f.event_lag_day.p95)}; "
            f"S3-to-row lag 24 h p50 {format_seconds(f.lag_p50_seconds)} p95 {format_seconds(f.lag_p95_seconds)}; "
            f"pending {f.pending}"
        )
    for line in lines:
        logger.info("%s", line)
    return lines


def periodic_jobs() -> None:
    """Never raises: the consumer's loop must go on."""
    try:
        delivered, failed = dispatch_undelivered()
        if delivered or failed:
            logger.info("sweep: delivered %s change notification(s), %s failed", delivered, failed)
        log_freshness()
    except Exception:
        logger.exception("operators' sweep failed; trying again next interval")
    try:
        prune_from_sweep()
    except Exception:
        logger.exception("pruning failed; trying again next interval")
