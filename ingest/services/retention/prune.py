"""Pruning: each kind of record is kept for its own number of days, then removed in small batches.

A batch is one short transaction: select at most ``batch_size`` ids (``ORDER BY id LIMIT n``: the
tables are append-only, so the oldest rows come first along the primary key and the scan stops
after ``n`` matches), then delete (or, for raw excerpts, blank) by that id list. No statement
touches more than a batch of rows, so no lock is held for long and importers go on; the pruner
pauses between batches. Import files are selected ``FOR UPDATE SKIP LOCKED``: one being
re-imported right now is left for the next round.

A pruned import file leaves its ledger entry (``ImportLedgerEntry``, written in the same
transaction: exactly once never forgets) and is pruned only once its hour is rolled up into
``StreamStats`` (the charts and the dashboard keep their history). Files that failed, are pending
or running, still have undelivered change notifications, or are named by a redriven record that
is still kept, are not pruned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from ingest.models import (
    DONE_STATUSES,
    ChangeNotification,
    EventLagCount,
    FailedRecord,
    FailedRecordStatus,
    ImportAttempt,
    ImportEventClock,
    ImportFile,
    ImportLineError,
    UnreadableMessage,
)
from ingest.models.retention import ImportLedgerEntry, StatsPeriod, StreamStats
from ingest.services.observing import rollup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    name: str
    setting: str
    what: str
    aggregate: bool = False  # kept by its own setting even with --older-than


# In this order: records that name a file go before files; files (with everything they wrote)
# before the younger kinds, so that a file's attempts and bad lines go in the file's own batch.
KINDS: tuple[Kind, ...] = (
    Kind("rejected_records", "INGEST_RETAIN_REJECTED_DAYS", "failed records, days after their redrive"),
    Kind("unreadable_messages", "INGEST_RETAIN_REJECTED_DAYS", "rejected queue messages, days after receipt"),
    Kind("import_files", "INGEST_RETAIN_IMPORT_FILES_DAYS", "imported files (to the ledger)"),
    Kind("delivered_changes", "INGEST_RETAIN_DELIVERED_CHANGES_DAYS", "delivered outbox rows"),
    Kind("line_errors", "INGEST_RETAIN_LINE_ERRORS_DAYS", "bad lines"),
    Kind("raw_excerpts", "INGEST_RETAIN_RAW_EXCERPTS_DAYS", "raw text of bad lines (blanked)"),
    Kind("attempts", "INGEST_RETAIN_ATTEMPTS_DAYS", "import attempts (and their bad lines)"),
    Kind("hourly_stats", "INGEST_RETAIN_HOURLY_STATS_DAYS", "hourly aggregates", aggregate=True),
    Kind("daily_stats", "INGEST_RETAIN_DAILY_STATS_DAYS", "daily aggregates", aggregate=True),
)
KIND_NAMES = tuple(k.name for k in KINDS)


def retention_days(kind: Kind) -> int:
    return int(getattr(settings, kind.setting))


@dataclass
class PruneReport:
    dry_run: bool = False
    removed: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, datetime | None] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    longest_batch_seconds: float = 0.0  # the longest transaction, so the longest any lock was held
    longest_by_kind: dict[str, float] = field(default_factory=dict)
    hours_rolled_up: int = 0
    finished: bool = True  # False: the time budget ran out; the next round goes on

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def lines(self) -> list[str]:
        out = []
        for kind in KINDS:
            cutoff = self.cutoffs.get(kind.name)
            when = f"before {cutoff:%Y-%m-%d %H:%M} UTC" if cutoff else "kept forever"
            verb = "would remove" if self.dry_run else "removed"
            out.append(f"{kind.name:<18} {verb} {self.removed.get(kind.name, 0):>10,}  ({kind.what}; {when})")
        rate = self.total / self.seconds if self.seconds else 0.0
        out.append(
            f"total {self.total:,} row(s) in {self.seconds:.1f} s ({rate:,.0f}/s), {self.batches} batch(es), "
            f"longest transaction {self.longest_batch_seconds * 1000:.0f} ms"
            + ("" if self.finished else "; stopped at the time budget, the next round goes on")
        )
        return out


# --- what each kind selects --------------------------------------------------------------------


def _candidates(kind: str, cutoff: datetime, *, rolled_until: datetime | None) -> QuerySet:
    if kind == "rejected_records":
        return FailedRecord.objects.filter(status=FailedRecordStatus.REDRIVEN, last_redrive_at__lt=cutoff)
    if kind == "unreadable_messages":
        return UnreadableMessage.objects.filter(received_at__lt=cutoff)
    if kind == "delivered_changes":
        return ChangeNotification.objects.filter(delivered_at__isnull=False, delivered_at__lt=cutoff)
    if kind == "raw_excerpts":
        return ImportLineError.objects.filter(created_at__lt=cutoff).exclude(raw_text="")
    if kind == "line_errors":
        return ImportLineError.objects.filter(created_at__lt=cutoff)
    if kind == "attempts":
        return ImportAttempt.objects.filter(started_at__lt=cutoff, finished_at__isnull=False)
    if kind == "import_files":
        # Only hours already rolled up: what the aggregates hold is never lost.
        limit = min(cutoff, rolled_until) if rolled_until else None
        if limit is None:
            return ImportFile.objects.none()
        return (
            ImportFile.objects.filter(status__in=DONE_STATUSES, created_at__lt=limit, finished_at__lt=limit)
            .exclude(Exists(ChangeNotification.objects.filter(import_file=OuterRef("pk"), delivered_at__isnull=True)))
            .exclude(Exists(FailedRecord.objects.filter(redriven_in=OuterRef("pk"))))
        )
    if kind == "hourly_stats":
        return StreamStats.objects.filter(period=StatsPeriod.HOUR, start__lt=cutoff)
    if kind == "daily_stats":
        return StreamStats.objects.filter(period=StatsPeriod.DAY, start__lt=cutoff)
    raise ValueError(f"unknown kind {kind!r}")


def _delete_ids(table: str, column: str, ids: list[int]) -> int:
    if not ids:
        return 0
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)} WHERE {column} IN ({marks})", ids)  # noqa: S608
        return cursor.rowcount


_LEDGER_FIELDS = (
    "pk", "bucket", "key", "etag", "version_id", "stream", "status", "created_at", "finished_at",
    "lines_total", "rows_created", "rows_updated", "rows_deleted", "errors_count",
)  # fmt: skip
_LEDGER_UPDATED = [
    "import_file_id", "version_id", "stream", "status", "registered_at", "imported_at", "lines_total",
    "rows_created", "rows_updated", "rows_deleted", "errors_count", "pruned_at",
]  # fmt: skip


def _ledger_entries(ids: list[int], now: datetime) -> list[ImportLedgerEntry]:
    entries = []
    for row in ImportFile.objects.filter(pk__in=ids).values(*_LEDGER_FIELDS):
        entries.append(
            ImportLedgerEntry(
                import_file_id=row["pk"],
                bucket=row["bucket"],
                key=row["key"],
                etag=row["etag"],
                version_id=row["version_id"],
                stream=row["stream"],
                status=row["status"],
                registered_at=row["created_at"],
                imported_at=row["finished_at"],
                lines_total=row["lines_total"],
                rows_created=row["rows_created"],
                rows_updated=row["rows_updated"],
                rows_deleted=row["rows_deleted"],
                errors_count=row["errors_count"],
                pruned_at=now,
            )
        )
    return entries


def _prune_files(ids: list[int], now: datetime) -> int:
    entries = _ledger_entries(ids, now)
    ImportLedgerEntry.objects.bulk_create(
        entries, update_conflicts=True, unique_fields=["bucket", "key", "etag"], update_fields=_LEDGER_UPDATED
    )
    for model in (ImportLineError, ImportAttempt, ImportEventClock, EventLagCount, ChangeNotification):
        _delete_ids(model._meta.db_table, "import_file_id", ids)
    return _delete_ids(ImportFile._meta.db_table, "id", ids)


def _gone_before(
    kind: str, qs: QuerySet, cutoffs: dict[str, datetime | None], chosen: list[Kind], state: dict
) -> QuerySet:
    """(dry run) ``qs`` without the rows a kind pruned earlier in the same run takes with it: a
    file's attempts, bad lines and outbox rows go in the file's batch, the raw text of a bad line
    with the line; so the dry run counts per kind what the real run reports."""
    names = {k.name for k in chosen}
    if kind in {"delivered_changes", "line_errors", "raw_excerpts", "attempts"} and "import_files" in names:
        file_cutoff = cutoffs.get("import_files")
        if file_cutoff is not None:
            files = _candidates("import_files", file_cutoff, rolled_until=state["rolled_until"])
            qs = qs.exclude(import_file__in=files.values("pk"))
    if kind == "raw_excerpts" and "line_errors" in names and cutoffs.get("line_errors") is not None:
        qs = qs.exclude(created_at__lt=cutoffs["line_errors"])
    return qs


def _batch(kind: str, cutoff: datetime, batch_size: int, state: dict, now: datetime) -> int:
    """One batch of one kind, in its own transaction; the rows removed (0: the kind is done)."""
    with transaction.atomic():
        qs = _candidates(kind, cutoff, rolled_until=state.get("rolled_until"))
        if kind == "raw_excerpts":
            qs = qs.filter(pk__gt=state.get("after", 0))
        if kind == "import_files":
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        ids = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return 0
        if kind == "raw_excerpts":
            state["after"] = ids[-1]
            return ImportLineError.objects.filter(pk__in=ids).update(raw_text="")
        if kind == "import_files":
            return _prune_files(ids, now)
        if kind == "attempts":
            _delete_ids(ImportLineError._meta.db_table, "attempt_id", ids)
        return _delete_ids(qs.model._meta.db_table, "id", ids)


def cutoffs(now: datetime, older_than: timedelta | None = None) -> dict[str, datetime | None]:
    """Per kind, the moment before which its records go (None: kept forever)."""
    out: dict[str, datetime | None] = {}
    for kind in KINDS:
        days = retention_days(kind)
        if older_than is not None and not kind.aggregate:
            out[kind.name] = now - older_than
        else:
            out[kind.name] = now - timedelta(days=days) if days > 0 else None
    return out


def prune(
    *,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    kinds: tuple[str, ...] | None = None,
    batch_size: int | None = None,
    pause: float | None = None,
    budget_seconds: float | None = None,
    rollup_max_hours: int | None = None,
    now: datetime | None = None,
    on_batch: Callable[[str, int, float], None] | None = None,
) -> PruneReport:
    """Prune every kind (or ``kinds``) past its retention, or past ``older_than`` for all but the
    aggregates; roll up the hours first so that no pruned file is missing from them. With
    ``dry_run``, count what would go and change nothing. ``budget_seconds`` stops after the batch
    that exceeds it (the periodic sweep must not hold the consumer up)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.INGEST_PRUNE_BATCH_SIZE
    pause = settings.INGEST_PRUNE_PAUSE_SECONDS if pause is None else pause
    chosen = [k for k in KINDS if kinds is None or k.name in kinds]
    report = PruneReport(dry_run=dry_run, cutoffs=cutoffs(now, older_than))
    started = time.monotonic()
    if not dry_run:
        report.hours_rolled_up, _ = rollup.rollup(now, max_hours=rollup_max_hours)
    state: dict = {"rolled_until": rollup.rolled_until()}
    if dry_run and state["rolled_until"] is None:
        # Nothing rolled up yet: the real run rolls up first, up to the last complete hour.
        state["rolled_until"] = now - rollup.GRACE
    for kind in chosen:
        cutoff = report.cutoffs[kind.name]
        report.removed[kind.name] = 0
        if cutoff is None:
            continue
        if dry_run:
            qs = _candidates(kind.name, cutoff, rolled_until=state["rolled_until"])
            report.removed[kind.name] = _gone_before(kind.name, qs, report.cutoffs, chosen, state).count()
            continue
        while True:
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                report.finished = False
                break
            batch_started = time.monotonic()
            n = _batch(kind.name, cutoff, batch_size, state, now)
            took = time.monotonic() - batch_started
            if not n:
                break
            report.batches += 1
            report.removed[kind.name] += n
            report.longest_batch_seconds = max(report.longest_batch_seconds, took)
            report.longest_by_kind[kind.name] = max(report.longest_by_kind.get(kind.name, 0.0), took)
            if on_batch:
                on_batch(kind.name, n, took)
            if pause:
                time.sleep(pause)
        if not report.finished:
            break
    report.seconds = time.monotonic() - started
    return report


class PruneClock:
    """The consumer's sweep prunes at most every ``INGEST_PRUNE_INTERVAL_SECONDS`` (<= 0: never)."""

    def __init__(self) -> None:
        self._last = 0.0

    def due(self) -> bool:
        interval = settings.INGEST_PRUNE_INTERVAL_SECONDS
        now = time.monotonic()
        if interval <= 0 or (self._last and now - self._last < interval):
            return False
        self._last = now
        return True


PRUNE_CLOCK = PruneClock()
# The sweep runs in the consumer's loop: each round prunes for at most this long, the next goes on.
SWEEP_BUDGET_SECONDS = 5.0
# A backlog of hours (the first run on a year of files) is rolled up a week per round.
SWEEP_ROLLUP_HOURS = 7 * 24


def prune_from_sweep() -> PruneReport | None:
    """What the consumer's sweep calls: a bounded round of pruning when one is due."""
    if not PRUNE_CLOCK.due():
        return None
    report = prune(budget_seconds=SWEEP_BUDGET_SECONDS, rollup_max_hours=SWEEP_ROLLUP_HOURS)
    if report.total or report.hours_rolled_up:
        logger.info(
            "prune: %s; %s hour(s) rolled up",
            ", ".join(f"{name} {n}" for name, n in report.removed.items() if n) or "nothing",
            report.hours_rolled_up,
        )
    return report
