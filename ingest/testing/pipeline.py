"""One end-to-end run's resources: a bucket that notifies a queue on moto, a Redis broker, a
database, and the worker, consumer and Redis processes started against them (all stopped
together). The e2e tests, the chaos tests and the benchmarks build on it."""

from __future__ import annotations

from pathlib import Path

from ingest.testing.aws import aws_clients
from ingest.testing.processes import ManagedProcess, child_env, start_consumer, start_redis, start_worker
from ingest.testing.utilities import wait_until

CONSUMER_ARGS = ("--sweep-interval", "1", "--requeue-after", "4", "--abandoned-after", "4")


class Pipeline:
    """One test's bucket, queue, broker and processes; every process is stopped at teardown."""

    def __init__(
        self, *, endpoint: str, bucket: str, queue_url: str, broker_url: str, db_url: str, log_dir: Path
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.queue_url = queue_url
        self.broker_url = broker_url
        self.db_url = db_url
        self.log_dir = log_dir
        self.s3, self.sqs = aws_clients(endpoint)
        self.processes: list[ManagedProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(
            database_url=self.db_url,
            broker_url=self.broker_url,
            aws_endpoint=self.endpoint,
            bucket=self.bucket,
            queue_url=self.queue_url,
            **extra,
        )

    def start_worker(self, concurrency: int = 1, **extra_env: str) -> ManagedProcess:
        worker = start_worker(self.env(**extra_env), self.log_dir, concurrency=concurrency)
        self.processes.append(worker)
        return worker

    def start_consumer(self, *args: str, **extra_env: str) -> ManagedProcess:
        consumer = start_consumer(self.env(**extra_env), self.log_dir, *(args or CONSUMER_ARGS))
        self.processes.append(consumer)
        return consumer

    def start_redis(self, port: int) -> ManagedProcess:
        redis = start_redis(port, self.log_dir)
        self.processes.append(redis)
        return redis

    def put(self, key: str, body: bytes) -> str:
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"].strip('"')

    def wait_files(self, count: int, timeout: float = 60.0, statuses=("imported",)) -> list:
        from ingest.models import ImportFile

        def done():
            files = list(ImportFile.objects.filter(status__in=statuses).order_by("pk"))
            return files if len(files) >= count else None

        try:
            return wait_until(done, timeout, 0.1, f"{count} file(s) {'/'.join(statuses)}")
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}; files: {list(ImportFile.objects.values_list('pk', 'key', 'status'))}\n{self.logs()}"
            ) from None

    def disable_notifications(self) -> None:
        self.s3.put_bucket_notification_configuration(Bucket=self.bucket, NotificationConfiguration={})

    def queue_depth(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def broker_idle(self) -> bool:
        """No task waiting in the queue, and none delivered but unacknowledged (running or scheduled)."""
        import redis

        client = redis.Redis.from_url(self.broker_url, socket_timeout=5)
        return client.llen("celery") == 0 and client.hlen("unacked") == 0

    def broker_state(self) -> str:
        """What the broker holds, for a failing assertion's message."""
        import redis

        client = redis.Redis.from_url(self.broker_url, socket_timeout=5)
        keys = sorted(k.decode(errors="replace") for k in client.scan_iter("*"))
        return (
            f"broker: celery list {client.llen('celery')}, unacked {client.hlen('unacked')}, "
            f"unacked_index {client.zcard('unacked_index')}, keys {keys}"
        )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in self.processes)

    def stop_all(self) -> None:
        import signal

        for process in self.processes:  # all at once: warm shutdowns overlap
            process.signal(signal.SIGTERM)
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
