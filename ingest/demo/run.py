"""``run_demo``: migrate, start the embedded services, send the events, wait until every file is
imported, check the database against the fold, and sum up (see ``ingest.demo``)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings

from ingest.demo.aws import create_aws_resources, demo_settings
from ingest.demo.reconciliation import ManglingRelease, choose_lost, losing_edge, run_reconciliation_step
from ingest.demo.redrive import BUGGY_STREAM, failed_records_consumer, release_v0, run_redrive_step
from ingest.demo.sending import ApiClient, SendStats, send_events
from ingest.demo.services import api_server, consumer_thread, embedded_worker
from ingest.demo.summary import DEMO_USERNAME, DemoSummary, count_created_notifications, sum_up
from ingest.testing.aws import fake_aws_credentials, moto_server
from ingest.testing.database import reset_tables, tables_are_empty

logger = logging.getLogger(__name__)

DEFAULT_EVENTS = 2000


@dataclass
class DemoOptions:
    events: int = DEFAULT_EVENTS
    seed: int = 0
    invalid_fraction: float = 0.01
    # Push the events the API rejected straight into the stream as well, to show that the
    # transform sends them to the error output instead of losing them.
    inject_invalid: bool = True
    senders: int = 4
    timeout_seconds: float = 300.0
    reset: bool = False
    password: str | None = None
    progress: Callable[[str], None] | None = None
    # Keep everything running after the summary (the import API and the admin on ``port``)
    # until Ctrl-C; ``on_summary`` is called with the summary before waiting.
    keep: bool = False
    port: int = 0
    on_summary: Callable[[DemoSummary], None] | None = None


def ensure_demo_user(password: str | None) -> str:
    """The ``demo`` superuser with a new password (returned)."""
    from django.contrib.auth import get_user_model

    password = password or secrets.token_urlsafe(9)
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.com"})
    user.is_staff = True
    user.is_superuser = True
    user.is_active = True
    user.set_password(password)
    user.save()
    return password


def run_demo(options: DemoOptions) -> DemoSummary:
    """Migrate, start the embedded services, send the events, wait until every file is imported,
    and sum up (see the module docstring)."""
    import boto3
    from django.core.management import call_command
    from django.db.models import Max

    from ingest.local.firehose import get_firehose
    from ingest.models import ImportFile, ImportStatus
    from ingest.testing.comparator import differences
    from ingest.testing.event_generator import generate_events
    from ingest.testing.oracle import expected_state

    say = options.progress or (lambda line: None)
    started = time.monotonic()
    summary = DemoSummary(database=str(settings.DATABASES["default"]["NAME"]))

    say(f"database: {summary.database} (migrating)")
    call_command("migrate", interactive=False, verbosity=0)
    if options.reset:
        reset_tables()
    fold_possible = tables_are_empty()
    summary.admin_password = ensure_demo_user(options.password)
    first_new_file = (ImportFile.objects.aggregate(m=Max("pk"))["m"] or 0) + 1

    events = generate_events(options.events, seed=options.seed, invalid_fraction=options.invalid_fraction)
    summary.events_generated = len(events)
    stats = SendStats()

    with contextlib.ExitStack() as stack:
        stack.enter_context(fake_aws_credentials())
        endpoint = stack.enter_context(moto_server())
        aws = create_aws_resources(endpoint, settings.AWS_REGION)
        stack.enter_context(demo_settings(aws))
        say(f"moto (S3 + SQS) at {endpoint}; bucket {aws.bucket}; queue {aws.queue_url}")
        stack.enter_context(embedded_worker())
        stack.enter_context(consumer_thread())
        stack.enter_context(failed_records_consumer(aws.failed_queue_url))
        host, port = stack.enter_context(api_server(options.port))
        firehose = get_firehose()
        mangler = ManglingRelease(release_v0, limit=max(3, len(events) // 400))
        firehose.use_transform(mangler)
        say(
            f"transform release v0 deployed (it rejects every {BUGGY_STREAM} event: the redrive step fixes that;"
            " and it mangles customers' name for a while: the snapshots find it)"
        )
        lost = choose_lost(events, max(3, len(events) // 200), options.seed)
        lost_calls = stack.enter_context(losing_edge(firehose, lost))
        say(f"the edge will lose {len(lost)} call(s) after answering 200: the snapshots find them")
        say(f"import API at http://{host}:{port}/v1/{{stream}}; Celery worker and SQS consumer running")
        sqs = boto3.client("sqs", endpoint_url=endpoint, config=settings.INGEST_BOTO_CONFIG)
        new_files = ImportFile.objects.filter(pk__gte=first_new_file, bucket=aws.bucket).exclude(
            registered_by__in=["redrive", "reconcile"]  # the redrive's files, the reconciliations' repairs
        )

        def report() -> tuple[int, int, int]:
            totals = firehose.totals()
            registered = new_files.count()
            done = new_files.filter(
                status__in=[ImportStatus.IMPORTED, ImportStatus.IMPORTED_WITH_ERRORS, ImportStatus.FAILED]
            ).count()
            say(
                f"[{time.monotonic() - started:5.1f}s] sent {stats.sent}/{len(events)} "
                f"(rejected {stats.rejected}) · files landed {totals.files} (+{totals.error_files} error) · "
                f"registered {registered} · imported {done}"
            )
            return totals.files, registered, done

        client = ApiClient(host, port, settings.INGEST_API_SECRET)
        sender = threading.Thread(
            target=send_events,
            args=(client, events, stats, options.senders),
            name="demo-send",
            daemon=True,
        )
        sender.start()
        deadline = time.monotonic() + options.timeout_seconds
        while sender.is_alive() and time.monotonic() < deadline:
            sender.join(1.0)
            report()
        if options.inject_invalid and stats.rejected_bodies:
            for stream, body in stats.rejected_bodies:
                firehose.put_record(stream, body)
            summary.records_injected_past_api = len(stats.rejected_bodies)
            say(f"pushed the {len(stats.rejected_bodies)} rejected events straight into the stream (past the API)")
        firehose.flush()
        while time.monotonic() < deadline:
            landed, registered, done = report()
            if firehose.pending() == 0 and landed == registered == done:
                break
            time.sleep(1.0)
        else:
            summary.timed_out = True
        step = run_redrive_step(firehose, firehose.totals().error_files, deadline, say)
        summary.redrive = asdict(step)
        summary.failed_records_notifications = step.error_files_registered + count_created_notifications(
            sqs, aws.failed_queue_url
        )
        s3 = boto3.client("s3", endpoint_url=endpoint, config=settings.INGEST_BOTO_CONFIG)
        summary.reconciliation = asdict(
            run_reconciliation_step(events, s3, aws.bucket, set(lost_calls), mangler.mangled, deadline, say)
        )
        sum_up(summary, stats, firehose.totals(), new_files)
        if fold_possible:
            summary.fold_checked = True
            problems = differences(expected_state(events))
            summary.fold_matches = not problems
            summary.fold_differences = problems[:20]
        summary.elapsed_seconds = round(time.monotonic() - started, 2)
        if options.keep:
            summary.admin_url = f"http://{host}:{port}/admin/"
            summary.kept_api_url = f"http://{host}:{port}/v1/"
            if options.on_summary:
                options.on_summary(summary)
            wait_for_stop_signal()
            say("stopping")
    return summary


def wait_for_stop_signal() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM."""
    import signal

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
