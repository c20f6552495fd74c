"""The moving parts of the real pipeline for end-to-end tests and the benchmark: Firehose-shaped
objects, a bucket that notifies a queue, and the processes (Celery worker, consumer, a private
Redis) started and stopped by pid. Plain functions: the e2e conftest and tests/bench use them."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from transforms.events import validate_event
from transforms.streams import STREAM_NAMES
from transforms.system_one.writer import write_record

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- content --------------------------------------------------------------------------------
def order_events(count: int, *, start: int = 0, run: str = "", customers: int = 10) -> list[dict]:
    """``count`` valid upserts of distinct orders (``SO-{run}{n}``), so that rows == lines."""
    events = []
    for n in range(start, start + count):
        number = f"SO-{run}{n:07d}"
        event = {
            "eventId": str(uuid.uuid4()),
            "stream": "orders",
            "eventType": "upsert",
            "occurredAt": "2026-11-27T10:15:30.123Z",
            "version": 1,
            "key": {"orderNumber": number},
            "data": {
                "orderNumber": number,
                "customerNumber": f"C-{n % customers:04d}",
                "orderDate": "2026-11-27",
                "status": "OPEN",
                "currency": "USD",
                "subtotal": "100.00",
                "tax": "8.25",
                "shipping": "12.5",
                "total": "120.75",
                "rush": n % 2 == 0,
            },
        }
        events.append(validate_event(event, "orders"))
    return events


def firehose_body(events: list[dict]) -> bytes:
    """What Firehose writes: the transform's System One lines concatenated, GZIP'd."""
    return gzip.compress("".join(write_record(e) for e in events).encode(), compresslevel=1)


def firehose_key(stream: str = "orders", when: datetime | None = None, *, name: str = "") -> str:
    """``{stream}/YYYY/MM/dd/HH/{deliveryStreamName}-{version}-YYYY-MM-DD-HH-MM-SS-{uuid}``."""
    when = when or datetime.now(UTC)
    return f"{stream}/{when:%Y/%m/%d/%H}/{name or 'e2e-' + stream}-1-{when:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"


# --- AWS ------------------------------------------------------------------------------------
def aws_clients(endpoint: str):
    import boto3
    from botocore.config import Config

    config = Config(region_name="us-east-1", connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})
    s3 = boto3.client("s3", endpoint_url=endpoint, config=config)
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=config)
    return s3, sqs


def create_bucket_and_queue(s3, sqs, bucket: str, queue: str, *, notifications: bool = True) -> str:
    """The bucket, the queue, and (unless told not to) the bucket's ObjectCreated notifications, one
    configuration per stream prefix, as infra/ sets them up. Returns the queue URL."""
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    if notifications:
        enable_notifications(s3, sqs, bucket, queue_url)
    return queue_url


def enable_notifications(s3, sqs, bucket: str, queue_url: str) -> None:
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"ingest-{stream}",
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f"{stream}/"}]}},
                }
                for stream in STREAM_NAMES
            ]
        },
    )


def drain_test_events(sqs, queue_url: str) -> None:
    """Remove the s3:TestEvent that configuring notifications sends (the consumer skips it anyway)."""
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        if "s3:TestEvent" in message["Body"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )


def notification_body(
    bucket: str, key: str, etag: str, size: int, *, event_time: str | None = None, sequencer: str = ""
) -> str:
    """An S3 notification as AWS sends it (key URL-encoded with ``+`` for spaces)."""
    from urllib.parse import quote_plus

    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest-orders",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
        },
    }
    if sequencer:
        record["s3"]["object"]["sequencer"] = sequencer
    return json.dumps({"Records": [record]})


# --- processes ------------------------------------------------------------------------------
class ManagedProcess:
    """A child process in its own session, its output in a log file; stopped by its own pid/group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_output(self, text: str, timeout: float = 60.0, *, after: int = 0) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            return text in self.log()[after:]

        try:
            wait_until(seen, timeout, 0.05, f"{self.name} to print {text!r}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- {self.name} log ---\n{self.log()[-4000:]}") from None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL to the process group we created if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of our own group (pool children)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for a child process that names the database of ``settings_dict`` (the test DB)."""
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def child_env(
    *, database_url: str, broker_url: str, aws_endpoint: str, bucket: str, queue_url: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="website.settings",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        CELERY_BROKER_URL=broker_url,
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        INGEST_BUCKET=bucket,
        INGEST_QUEUE_URL=queue_url,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], log_dir: Path, *, concurrency: int = 1, name: str = "") -> ManagedProcess:
    name = name or f"e2e-{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable, "-m", "celery", "-A", "website", "worker",
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--loglevel", "INFO", "--hostname", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = ManagedProcess(name, argv, env, log_dir / f"{name}.log")
    worker.wait_for_output(" ready.", timeout=90)
    return worker


def start_consumer(env: dict[str, str], log_dir: Path, *args: str, name: str = "consumer") -> ManagedProcess:
    argv = [sys.executable, "manage.py", "consume_events", "--wait-time", "1", *args]
    consumer = ManagedProcess(name, argv, env, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log")
    consumer.wait_for_output("consuming ", timeout=60)
    return consumer


def start_redis(port: int, log_dir: Path) -> ManagedProcess:
    """A private redis-server that keeps nothing: a restart loses every queued task."""
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = ManagedProcess(f"redis-{port}", argv, dict(os.environ), log_dir / f"redis-{port}.log")
    import redis as redis_lib

    def answers() -> bool:
        try:
            return bool(redis_lib.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
        except redis_lib.RedisError:
            return False

    wait_until(answers, 20, 0.05, "redis-server to answer")
    return redis


def worker_children(worker: ManagedProcess) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(worker.pid).children(recursive=False)]
    except psutil.NoSuchProcess:
        return []
