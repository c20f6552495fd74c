"""What a demo run did: counted from the Firehose stand-in, the database and SQS, and printed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from ingest.demo.sending import SendStats

DEMO_USERNAME = "demo"


@dataclass
class DemoSummary:
    events_generated: int = 0
    events_sent: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    http_errors: int = 0
    records_injected_past_api: int = 0
    records_delivered: int = 0
    records_failed: int = 0
    records_dropped: int = 0
    files_landed: int = 0
    error_files_landed: int = 0
    failed_records_notifications: int = 0
    files_registered: int = 0
    files_imported: int = 0
    files_imported_with_errors: int = 0
    files_failed: int = 0
    line_errors: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    placeholders: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    lag_seconds: dict[str, float | None] = field(default_factory=dict)
    fold_checked: bool = False
    fold_matches: bool | None = None
    fold_differences: list[str] = field(default_factory=list)
    timed_out: bool = False
    elapsed_seconds: float = 0.0
    database: str = ""
    admin_url: str = "http://127.0.0.1:8000/admin/"
    admin_username: str = DEMO_USERNAME
    admin_password: str = ""
    kept_api_url: str = ""  # with keep: the running import API, e.g. http://127.0.0.1:8000/v1/
    # The redrive step (ingest.demo.redrive): failed records registered, redriven, imported.
    redrive: dict[str, Any] = field(default_factory=dict)
    # The reconciliation stage (ingest.demo.reconciliation): calls lost, records mangled, drift found.
    reconciliation: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            not self.timed_out
            and self.fold_matches is not False
            and self.http_errors == 0
            and self.files_failed == 0
            and self.redrive.get("redrive_files_imported") == self.redrive.get("redrive_files")
            and self.reconciliation.get("found_expected") is not False
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def count_created_notifications(sqs, queue_url: str) -> int:
    """How many objects the queue's S3 notifications announce (S3's test event not counted);
    reads the messages without deleting them."""
    from ingest.services.intake.notifications import MessageUnreadable, parse_notification

    seen: set[str] = set()
    created = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return created
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                created += len(parse_notification(message.get("Body", "")).created)
            except MessageUnreadable:
                continue


def sum_up(summary: DemoSummary, stats: SendStats, totals, files) -> None:
    from ingest.models import ImportLineError, ImportStatus
    from ingest.services.observing.percentiles import lag_percentiles
    from website.models import MODELS_BY_STREAM

    summary.events_sent = stats.sent
    summary.events_accepted = stats.accepted
    summary.events_rejected = stats.rejected
    summary.rejected_reasons = dict(stats.reasons)
    summary.http_errors = stats.http_errors
    summary.records_delivered = totals.records_ok
    summary.records_failed = totals.records_failed
    summary.records_dropped = totals.records_dropped
    summary.files_landed = totals.files
    summary.error_files_landed = totals.error_files
    summary.files_registered = files.count()
    summary.files_imported = files.filter(status=ImportStatus.IMPORTED).count()
    summary.files_imported_with_errors = files.filter(status=ImportStatus.IMPORTED_WITH_ERRORS).count()
    summary.files_failed = files.filter(status=ImportStatus.FAILED).count()
    summary.line_errors = ImportLineError.objects.filter(import_file__in=files).count()
    for model in MODELS_BY_STREAM.values():
        name = model.__name__
        summary.rows[name] = model.objects.count()
        summary.placeholders[name] = model.objects.filter(is_placeholder=True).count()
        summary.deleted[name] = model.objects.filter(is_deleted=True).count()
    lag = lag_percentiles(files)
    summary.lag_seconds = {k: lag.get(k) for k in ("count", "p50", "p95", "max")}


def format_summary(summary: DemoSummary) -> str:
    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}s"

    width = max(len(name) for name in summary.rows) if summary.rows else 10
    lines = [
        "",
        f"Demo {'finished' if not summary.timed_out else 'TIMED OUT'} in {summary.elapsed_seconds:.1f}s "
        f"(database {summary.database})",
        f"  events sent       {summary.events_sent} of {summary.events_generated}: {summary.events_accepted} accepted "
        f"(200), {summary.events_rejected} rejected (400)"
        + (f", {summary.http_errors} other answers" if summary.http_errors else ""),
    ]
    if summary.rejected_reasons:
        lines.append(
            "  rejected because  " + "; ".join(f"{k}: {v}" for k, v in sorted(summary.rejected_reasons.items()))
        )
    if summary.records_injected_past_api:
        lines.append(
            f"  past the API      {summary.records_injected_past_api} rejected events pushed straight into the "
            f"stream: {summary.records_failed} records in {summary.error_files_landed} file(s) under errors/ "
            f"({summary.failed_records_notifications} notification(s) on the failed-records queue)"
        )
    if summary.redrive:
        r = summary.redrive
        lines.append(
            f"  redrive           after the fix-up (transform release v1): {r['records_rejected']} rejected "
            f"record(s) in {r['error_files_registered']} error-output file(s); {r['records_passed']} pass "
            f"({r['rows_loaded']} rows loaded from {r['redrive_files']} file(s)), {r['records_still_failing']} "
            "still fail and stay listed in the admin (Failed records)"
        )
    if summary.reconciliation:
        r = summary.reconciliation
        lines.append(
            f"  reconciliation    {r['calls_lost']} call(s) lost at the edge, {r['records_mangled']} record(s) mangled "
            f"by the transform; {r['snapshots']} snapshot(s) found {r['found']}: "
            f"{'exactly' if r['found_expected'] else 'NOT exactly'} the {r['expected_keys']} key(s) lost or mangled; "
            f"{r['repaired']} repaired by the worker, {r['content_repaired']} content repair(s) by the operator"
        )
        lines += [f"    {k}" for k in r.get("unexpected", [])]
    lines += [
        f"  files landed      {summary.files_landed} in S3 ({summary.records_delivered} records"
        + (f"; the transform dropped {summary.records_dropped}" if summary.records_dropped else "")
        + f"); "
        f"{summary.files_registered} registered, {summary.files_imported} imported, "
        f"{summary.files_imported_with_errors} with errors, {summary.files_failed} failed",
        f"  line errors       {summary.line_errors}",
        f"  lag (S3 → rows)   p50 {seconds(summary.lag_seconds.get('p50'))}, "
        f"p95 {seconds(summary.lag_seconds.get('p95'))} over {summary.lag_seconds.get('count') or 0} files",
        "  rows per model    (placeholders, deleted)",
    ]
    for name, count in summary.rows.items():
        lines.append(
            f"    {name:<{width}}  {count:>6}  ({summary.placeholders.get(name, 0)}, {summary.deleted.get(name, 0)})"
        )
    if summary.fold_checked:
        verdict = "matches" if summary.fold_matches else "DIFFERS from"
        lines.append(f"  check             the database {verdict} the fold of the events")
        lines += [f"    {p}" for p in summary.fold_differences]
    else:
        lines.append("  check             skipped: the tables held rows before the demo (run with --reset to check)")
    login = f"log in as {summary.admin_username!r} with password {summary.admin_password!r}"
    if summary.kept_api_url:
        lines += [
            "",
            "Still running (Ctrl-C stops it): the whole pipeline, live.",
            f"  admin       open {summary.admin_url} and {login}",
            f"  import API  POST {summary.kept_api_url}{{stream}}, for example:",
            f"    curl -i {summary.kept_api_url}orders -H 'Content-Type: application/json' \\",
            f"      $(INGEST_API_SECRET={_shown_secret()} python -m ingest.local.auth event.json) \\",
            "      --data-binary @event.json",
        ]
    else:
        lines += [
            "",
            "Look at it in the admin:",
            "  python manage.py runserver",
            f"  open {summary.admin_url} and {login}",
        ]
    return "\n".join(lines)


def _shown_secret() -> str:
    """The API secret when it is the public development default, a placeholder otherwise."""
    default = "local-development-secret"
    return default if default == settings.INGEST_API_SECRET else "$INGEST_API_SECRET"
