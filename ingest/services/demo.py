"""``manage.py demo``: the whole pipeline in one process, on embedded defaults.

Nothing to install or start: the database is the default SQLite file, AWS is an in-process
moto server (S3 and SQS, with the bucket notifying the queue for the nine stream prefixes, so
notifications are real moto notifications), the Celery broker is kombu's ``memory://`` with a
worker in a thread of this process, and Kinesis → Firehose is ``ingest.local.firehose`` behind
the local import API, served over real HTTP by a thread of this process.

The flow is the production one from the API on: System Two events (``event_generator``) are
POSTed, signed, to ``/v1/{stream}``; the stand-in Firehose runs the real transform handler and
writes GZIP files to S3; S3 notifies SQS; the real consumer registers the files and enqueues the
real import task; the worker imports them. At the end the database is compared with the fold of
the events (``expected_state``) when the demo started on empty tables.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections
from django.test.utils import override_settings

from ingest.local.auth import SIGNATURE_HEADER, sign
from transforms.streams import STREAM_NAMES, STREAMS

logger = logging.getLogger(__name__)

DEFAULT_EVENTS = 2000
DEMO_BUCKET = "erp-ingest-demo"
DEMO_QUEUE = "erp-ingest-demo"
DEMO_FAILED_QUEUE = "erp-ingest-demo-failed-records"
DEMO_USERNAME = "demo"
ERROR_PREFIX = "errors/"
HTTP_TIMEOUT_SECONDS = 30.0


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

    @property
    def ok(self) -> bool:
        return (
            not self.timed_out and self.fold_matches is not False and self.http_errors == 0 and self.files_failed == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


# --- embedded services ----------------------------------------------------------------------------


@contextlib.contextmanager
def fake_aws_credentials() -> Iterator[None]:
    """moto accepts any credentials; never sign demo requests with a developer's real ones."""
    names = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_SESSION_TOKEN": None}
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name, value in names.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """An in-process moto server on a free port; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class DemoAws:
    endpoint: str
    bucket: str
    queue_url: str
    failed_queue_url: str


def create_aws_resources(endpoint: str, region: str) -> DemoAws:
    """The bucket, the two queues and the bucket notifications of ``infra/``: each stream's prefix
    to the ingest queue, ``errors/`` to the failed-records queue."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=settings.INGEST_BOTO_CONFIG)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region, config=settings.INGEST_BOTO_CONFIG)
    if region == "us-east-1":
        s3.create_bucket(Bucket=DEMO_BUCKET)
    else:
        s3.create_bucket(Bucket=DEMO_BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    queue_url = sqs.create_queue(QueueName=DEMO_QUEUE)["QueueUrl"]
    failed_url = sqs.create_queue(QueueName=DEMO_FAILED_QUEUE)["QueueUrl"]

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def rule(queue_arn: str, name: str, prefix: str) -> dict:
        return {
            "Id": name,
            "QueueArn": queue_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
        }

    ingest_arn, failed_arn = arn(queue_url), arn(failed_url)
    configurations = [rule(ingest_arn, f"{stream}-created", f"{stream}/") for stream in STREAM_NAMES]
    configurations.append(rule(failed_arn, "errors-created", ERROR_PREFIX))
    s3.put_bucket_notification_configuration(
        Bucket=DEMO_BUCKET, NotificationConfiguration={"QueueConfigurations": configurations}
    )
    return DemoAws(endpoint, DEMO_BUCKET, queue_url, failed_url)


@contextlib.contextmanager
def demo_settings(aws: DemoAws) -> Iterator[None]:
    """Point this process's settings at the embedded services; undone on exit."""
    from django.core.files.storage import storages

    from ingest.local.firehose import reset_firehose
    from website.celery import app

    ingest_storage = dict(settings.STORAGES["ingest"])
    ingest_storage["OPTIONS"] = {**ingest_storage["OPTIONS"], "endpoint_url": aws.endpoint, "bucket_name": aws.bucket}
    overrides = {
        "AWS_ENDPOINT_URL": aws.endpoint,
        "INGEST_BUCKET": aws.bucket,
        "INGEST_QUEUE_URL": aws.queue_url,
        "STORAGES": {**settings.STORAGES, "ingest": ingest_storage},
        "CELERY_BROKER_URL": "memory://localhost/",
        "CELERY_TASK_ALWAYS_EAGER": False,
        "INGEST_LOCAL_API_ENABLED": True,
        "INGEST_LOCAL_API_VALIDATE": True,
    }
    # The app reads Django's CELERY_* settings under that namespace, and the namespaced keys win.
    celery_overrides = {
        "CELERY_BROKER_URL": "memory://localhost/",
        "CELERY_TASK_ALWAYS_EAGER": False,
        # The memory transport polls; its default second would add a second to every import.
        "CELERY_BROKER_TRANSPORT_OPTIONS": {"polling_interval": 0.05},
    }
    saved_celery = {name: app.conf.get(name) for name in celery_overrides}
    reset_firehose()
    with override_settings(**overrides):
        storages._storages.pop("ingest", None)
        storages._backends = None
        app.conf.update(celery_overrides)
        try:
            yield
        finally:
            reset_firehose()
            app.conf.update(saved_celery)
            storages._storages.pop("ingest", None)
            storages._backends = None


@contextlib.contextmanager
def embedded_worker() -> Iterator[None]:
    """A Celery worker (solo pool) consuming the memory broker in a thread of this process."""
    from celery.worker import WorkController, state

    from website.celery import app

    class _Worker(WorkController):
        def __init__(self, *args, **kwargs) -> None:
            self.consumer_ready = threading.Event()
            super().__init__(*args, **kwargs)

        def on_consumer_ready(self, consumer) -> None:
            self.consumer_ready.set()

    app.finalize()
    app.set_current()
    app.set_default()
    worker = _Worker(
        app=app,
        hostname=f"demo@{os.uname().nodename}",
        pool="solo",
        concurrency=1,
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )

    def run() -> None:
        try:
            worker.start()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="demo-celery-worker", daemon=True)
    thread.start()
    if not worker.consumer_ready.wait(30):
        raise RuntimeError("the embedded Celery worker did not start within 30 s")
    try:
        yield
    finally:
        # A warm shutdown, as the testing helper of Celery does it: the worker loop checks this flag.
        state.should_stop = 0
        thread.join(30)
        state.should_stop = None


@contextlib.contextmanager
def consumer_thread() -> Iterator[Any]:
    """The real SQS consumer (``ingest.services.consumer``) in a thread; yields the consumer."""
    from ingest.services.consumer import ConsumerOptions, EventConsumer

    consumer = EventConsumer(
        ConsumerOptions.from_settings(wait_time_seconds=1, sweep_interval=5.0), echo=lambda line: None
    )

    def run() -> None:
        try:
            consumer.run()
        except Exception:
            logger.exception("the demo's consumer stopped")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="demo-consumer", daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        consumer.request_stop()
        thread.join(30)


@contextlib.contextmanager
def api_server(port: int = 0) -> Iterator[tuple[str, int]]:
    """This Django project over real HTTP (the local import API and the admin); yields (host, port)."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def setup(self) -> None:
            super().setup()
            # Headers and body leave in separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, allow_reuse_address=bool(port))
    # Not get_wsgi_application(): it would run django.setup() again, and with it the logging config.
    # The admin's CSS and JS are served as runserver serves them in development.
    server.set_app(StaticFilesHandler(WSGIHandler()) if settings.DEBUG else WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="demo-api", daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# --- sending ----------------------------------------------------------------------------------------


@dataclass
class SendStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    http_errors: int = 0
    reasons: Counter = field(default_factory=Counter)
    rejected_bodies: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def request_of(event: dict) -> tuple[str, bytes]:
    """(URL stream, body) of a generated event: the markers the generator adds are not sent."""
    stream = event.get("_url_stream", event.get("stream"))
    body = {k: v for k, v in event.items() if not k.startswith("_")}
    return str(stream), json.dumps(body, ensure_ascii=False).encode("utf-8")


class ApiClient:
    """One keep-alive HTTP connection per thread to the local import API, requests signed."""

    def __init__(self, host: str, port: int, secret: str) -> None:
        self.host, self.port, self.secret = host, port, secret
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_SECONDS)
            conn.connect()
            # http.client sends headers and body in separate writes (see QuietHandler.setup).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def post(self, stream: str, body: bytes) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", f"/v1/{stream}", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return response.status, json.loads(payload or b"{}")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed a kept-alive connection: one retry on a fresh one.
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def send_events(client: ApiClient, events: list[dict], stats: SendStats, senders: int) -> None:
    def send(event: dict) -> None:
        stream, body = request_of(event)
        try:
            status, payload = client.post(stream, body)
        except OSError as exc:
            logger.warning("demo: POST /v1/%s failed: %s", stream, exc)
            status, payload = 0, {}
        with stats.lock:
            stats.sent += 1
            if status == 200:
                stats.accepted += 1
            elif status == 400:
                stats.rejected += 1
                stats.reasons[event.get("_invalid") or "invalid"] += 1
                stats.rejected_bodies.append((stream, body))
            else:
                stats.http_errors += 1
                logger.warning("demo: POST /v1/%s answered %s: %s", stream, status, payload)

    with ThreadPoolExecutor(max_workers=max(1, senders), thread_name_prefix="demo-sender") as pool:
        list(pool.map(send, events))


# --- checking ---------------------------------------------------------------------------------------


def compare_with_fold(expected) -> list[str]:
    """How the nine tables differ from the fold of the events (source version, deleted and
    placeholder flags per key); empty when they agree."""
    from website.models import MODELS_BY_STREAM

    problems: list[str] = []
    for stream, spec in STREAMS.items():
        model = MODELS_BY_STREAM[stream]
        key_columns = [f.attname for f in spec.key]
        actual = {
            tuple(row[: len(key_columns)]): row[len(key_columns) :]
            for row in model.objects.values_list(*key_columns, "source_version", "is_deleted", "is_placeholder")
        }
        wanted = expected.rows[stream]
        optional = expected.optional_placeholders.get(stream, set())
        for key, row in wanted.items():
            got = actual.get(key)
            want = (row.source_version, row.is_deleted, row.is_placeholder)
            if got is None:
                problems.append(f"{stream} {key}: missing (expected version {row.source_version})")
            elif tuple(got) != want:
                problems.append(f"{stream} {key}: (version, deleted, placeholder) is {tuple(got)}, expected {want}")
        for key, got in actual.items():
            if key not in wanted and not (key in optional and got[2]):
                problems.append(f"{stream} {key}: unexpected row {tuple(got)}")
    return problems


def tables_are_empty() -> bool:
    from website.models import MODELS_BY_STREAM

    return not any(model.objects.exists() for model in MODELS_BY_STREAM.values())


def reset_tables() -> None:
    """Delete the rows of the nine website models and the import history (not the users)."""
    from ingest.models import ImportAttempt, ImportFile, ImportLineError
    from website.models import MODELS_BY_STREAM

    for model in MODELS_BY_STREAM.values():
        model.objects.all().delete()
    ImportLineError.objects.all().delete()
    ImportAttempt.objects.all().delete()
    ImportFile.objects.all().delete()


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


def count_created_notifications(sqs, queue_url: str) -> int:
    """How many objects the queue's S3 notifications announce (S3's test event not counted);
    reads the messages without deleting them."""
    from ingest.services.notifications import UnreadableMessage, parse_notification

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
            except UnreadableMessage:
                continue


# --- the run ----------------------------------------------------------------------------------------


def run_demo(options: DemoOptions) -> DemoSummary:
    """Migrate, start the embedded services, send the events, wait until every file is imported,
    and sum up (see the module docstring)."""
    import boto3
    from django.core.management import call_command
    from django.db.models import Max

    from ingest.local.firehose import get_firehose
    from ingest.models import ImportFile, ImportStatus
    from ingest.services.event_generator import expected_state, generate_events

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
        host, port = stack.enter_context(api_server(options.port))
        firehose = get_firehose()
        say(f"import API at http://{host}:{port}/v1/{{stream}}; Celery worker and SQS consumer running")
        sqs = boto3.client("sqs", endpoint_url=endpoint, config=settings.INGEST_BOTO_CONFIG)
        new_files = ImportFile.objects.filter(pk__gte=first_new_file, bucket=aws.bucket)

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
            target=send_events, args=(client, events, stats, options.senders), name="demo-send", daemon=True
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
        summary.failed_records_notifications = count_created_notifications(sqs, aws.failed_queue_url)
        _sum_up(summary, stats, firehose.totals(), new_files)
        if fold_possible:
            summary.fold_checked = True
            problems = compare_with_fold(expected_state(events))
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


def _sum_up(summary: DemoSummary, stats: SendStats, totals, files) -> None:
    from ingest.models import ImportLineError, ImportStatus
    from ingest.services.metrics import lag_percentiles
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
            f"      -H 'Authorization: Bearer {_shown_secret()}' --data-binary @event.json",
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
