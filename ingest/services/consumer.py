"""The event consumer: S3 notifications from SQS become registered files and enqueued imports.

For each message: read it, register every created object as an ImportFile (idempotent: a
second notification of the same object finds the same row) in one transaction, ring the
import task's doorbell once that transaction has committed, and only then delete the message.
A crash anywhere before the delete leaves the message in the queue, to be read again.

The database, not the broker, is the source of truth: a file is ``pending`` until a worker
has imported it. When the broker loses a task (Redis restarted without persistence, a publish
that failed), the file is still pending, and the periodic sweep enqueues it again. The same
sweep gives back files left ``running`` by a worker that died and whose message did not come
back. Extra doorbells are harmless: the importer imports each file once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ingest.models import DONE_STATUSES, ImportFile, ImportStatus, RejectedMessage
from ingest.services.importing import mark_failed
from ingest.services.notifications import UnreadableMessage, parse_notification
from ingest.services.registration import register_s3_object

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = (*DONE_STATUSES, ImportStatus.FAILED)
# A file registered without a doorbell (its publish failed) gets one from the sweep after this long,
# so that the sweep does not race the registrar that is about to ring it.
UNENQUEUED_GRACE_SECONDS = 5.0


def default_enqueue(import_file_id: int) -> None:
    from ingest.tasks import import_file_task

    import_file_task.delay(import_file_id)


def sqs_client(wait_time_seconds: int = 20):
    """An SQS client whose read timeout outlasts a long poll, with the project's endpoint and retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=settings.AWS_REGION,
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=max(settings.AWS_READ_TIMEOUT, wait_time_seconds + 10),
        retries={"max_attempts": settings.AWS_MAX_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client("sqs", endpoint_url=settings.AWS_ENDPOINT_URL, config=config)


@dataclass
class ConsumerOptions:
    queue_url: str
    wait_time_seconds: int = 10
    batch_size: int = 10
    visibility_timeout: int | None = None
    sweep_interval: float = 30.0
    requeue_after: float = 600.0
    abandoned_after: float = 120.0
    max_redeliveries: int = 5

    @classmethod
    def from_settings(cls, **overrides) -> ConsumerOptions:
        values = {
            "queue_url": settings.INGEST_QUEUE_URL,
            "wait_time_seconds": settings.INGEST_CONSUMER_WAIT_SECONDS,
            "sweep_interval": settings.INGEST_SWEEP_INTERVAL_SECONDS,
            "requeue_after": settings.INGEST_REQUEUE_AFTER_SECONDS,
            "abandoned_after": settings.INGEST_ABANDONED_AFTER_SECONDS,
            "max_redeliveries": settings.INGEST_MAX_REDELIVERIES,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class MessageResult:
    message_id: str
    registered: list[int] = field(default_factory=list)  # files this message created
    enqueued: list[int] = field(default_factory=list)  # files it rang the doorbell for
    ignored_events: int = 0  # records other than ObjectCreated
    test_event: bool = False
    rejected: str = ""  # why the message could not be read
    deleted: bool = False


@dataclass
class RunSummary:
    messages: int = 0
    registered: int = 0
    enqueued: int = 0
    rejected: int = 0
    swept: int = 0
    errors: int = 0
    drained: bool = False
    timed_out: bool = False


class EventConsumer:
    """Long-polls one queue; see the module docstring. ``request_stop()`` ends ``run`` after the batch."""

    def __init__(
        self,
        options: ConsumerOptions,
        *,
        sqs=None,
        enqueue: Callable[[int], None] = default_enqueue,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        if not options.queue_url:
            raise ValueError("no queue URL: set INGEST_QUEUE_URL or pass --queue-url")
        if not 1 <= options.batch_size <= 10:
            raise ValueError("SQS returns 1 to 10 messages per receive")
        self.options = options
        self.sqs = sqs if sqs is not None else sqs_client(options.wait_time_seconds)
        self.enqueue = enqueue
        self.echo = echo or (lambda line: logger.info("%s", line))
        self.enqueued_ids: set[int] = set()
        self.enqueue_failures = 0
        self._stop = threading.Event()
        self._last_sweep = 0.0

    # --- stopping ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the doorbell -----------------------------------------------------------------------
    def _ring(self, import_file_id: int) -> None:
        """After commit: enqueue the import. A broker that is down leaves the file pending for the sweep."""
        try:
            self.enqueue(import_file_id)
        except Exception as exc:  # any publish failure: the database still says "pending"
            self.enqueue_failures += 1
            logger.warning("could not enqueue file %s (the sweep will): %s", import_file_id, exc)
            ImportFile.objects.filter(pk=import_file_id, status=ImportStatus.PENDING).update(enqueued_at=None)
            return
        self.enqueued_ids.add(import_file_id)

    def _schedule(self, import_file_id: int) -> None:
        ImportFile.objects.filter(pk=import_file_id).update(enqueued_at=timezone.now())
        transaction.on_commit(partial(self._ring, import_file_id))

    # --- messages ---------------------------------------------------------------------------
    def receive(self) -> list[dict]:
        kwargs = {
            "QueueUrl": self.options.queue_url,
            "MaxNumberOfMessages": self.options.batch_size,
            "WaitTimeSeconds": self.options.wait_time_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        }
        if self.options.visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = self.options.visibility_timeout
        return self.sqs.receive_message(**kwargs).get("Messages", [])

    def _delete(self, message: dict) -> bool:
        try:
            self.sqs.delete_message(QueueUrl=self.options.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception as exc:  # the message comes back later; registering it again is harmless
            logger.warning("could not delete message %s: %s", message.get("MessageId"), exc)
            return False
        return True

    def _record_rejection(self, message: dict, error: str) -> None:
        attributes = message.get("Attributes") or {}
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", 1))
        except ValueError:
            receive_count = 1
        RejectedMessage.objects.update_or_create(
            queue_url=self.options.queue_url,
            message_id=message.get("MessageId", ""),
            defaults={
                "receive_count": receive_count,
                "body": message.get("Body", ""),
                "error": error,
                "received_at": timezone.now(),
            },
        )

    def _delete_batch(self, messages: list[dict]) -> None:
        """One DeleteMessageBatch call for the messages handled in one receive (at most 10)."""
        if not messages:
            return
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        try:
            response = self.sqs.delete_message_batch(QueueUrl=self.options.queue_url, Entries=entries)
        except Exception as exc:  # they come back later; registering them again is harmless
            logger.warning("could not delete %s message(s): %s", len(messages), exc)
            return
        for failure in response.get("Failed", []):
            logger.warning("could not delete message %s: %s", failure.get("Id"), failure.get("Message"))

    def handle(self, message: dict, *, delete: bool = True) -> MessageResult:
        """Register what one message announces, enqueue after commit, then delete the message
        (or, with ``delete=False``, leave that to the caller: ``result.deleted`` says it may go).

        Raises only for failures worth retrying (the database): the message is then not deleted."""
        result = MessageResult(message_id=message.get("MessageId", ""))
        try:
            notification = parse_notification(message.get("Body", ""))
        except UnreadableMessage as exc:
            result.rejected = str(exc)
            self._record_rejection(message, result.rejected)
            logger.error("rejected message %s: %s", result.message_id, result.rejected)
            self.echo(f"rejected message {result.message_id}: {result.rejected}")
            result.deleted = self._delete(message) if delete else True
            return result
        if notification.is_test_event:
            result.test_event = True
            result.deleted = self._delete(message) if delete else True
            return result

        lines: list[str] = []
        with transaction.atomic():
            for event in notification.events:
                if not event.is_created:
                    result.ignored_events += 1
                    continue
                f, created = register_s3_object(event.s3_object, registered_by="notification")
                if created:
                    result.registered.append(f.pk)
                if created or f.status == ImportStatus.PENDING:
                    self._schedule(f.pk)
                    result.enqueued.append(f.pk)
                    lines.append(f"{'registered' if created else 'pending again'} file #{f.pk} {f.uri}")
                else:
                    lines.append(f"already known file #{f.pk} {f.uri} ({f.status})")
        # The transaction has committed and the doorbells have rung: the message can go.
        for line in lines:
            self.echo(line)
        result.deleted = self._delete(message) if delete else True
        return result

    # --- the sweep --------------------------------------------------------------------------
    def sweep(self) -> list[int]:
        """Enqueue again the pending files whose doorbell was lost and the running files nobody runs."""
        now = timezone.now()
        opts = self.options
        to_ring: list[int] = []
        give_up: list[tuple[int, int]] = []
        with transaction.atomic():
            pending = list(
                ImportFile.objects.filter(status=ImportStatus.PENDING)
                .filter(
                    Q(enqueued_at__isnull=True, created_at__lt=now - timedelta(seconds=UNENQUEUED_GRACE_SECONDS))
                    | Q(enqueued_at__lt=now - timedelta(seconds=opts.requeue_after))
                )
                .values_list("pk", flat=True)[:1000]
            )
            abandoned_after = opts.abandoned_after
            running = ImportFile.objects.filter(status=ImportStatus.RUNNING)
            if connection.features.has_select_for_update_skip_locked:
                # An importing worker holds the row lock for its whole transaction: a running file
                # whose row we can lock has nobody importing it.
                running = running.select_for_update(skip_locked=True)
            else:
                abandoned_after = max(abandoned_after, settings.CELERY_TASK_TIME_LIMIT + 60)
            abandoned = list(
                running.filter(updated_at__lt=now - timedelta(seconds=abandoned_after))
                .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now))
                .values_list("pk", "redeliveries")[:1000]
            )
            for pk, redeliveries in abandoned:
                if redeliveries + 1 > opts.max_redeliveries:
                    give_up.append((pk, redeliveries + 1))
                    continue
                ImportFile.objects.filter(pk=pk).update(
                    status=ImportStatus.PENDING, redeliveries=F("redeliveries") + 1, updated_at=now
                )
                to_ring.append(pk)
            to_ring.extend(pending)
            for pk in to_ring:
                self._schedule(pk)
        for pk, count in give_up:
            mark_failed(pk, f"gave up after {count} lost deliveries: abandoned while running", trigger="sweep")
        if to_ring:
            self.echo(f"sweep: enqueued again {len(to_ring)} file(s): {', '.join(f'#{pk}' for pk in to_ring[:20])}")
        return to_ring

    def maybe_sweep(self, *, force: bool = False) -> list[int]:
        if self.options.sweep_interval <= 0 and not force:
            return []
        if not force and time.monotonic() - self._last_sweep < self.options.sweep_interval:
            return []
        self._last_sweep = time.monotonic()
        try:
            return self.sweep()
        except Exception:
            logger.exception("sweep failed; trying again next interval")
            return []

    # --- draining ---------------------------------------------------------------------------
    def outstanding(self) -> int:
        """Files this consumer enqueued that are not imported or failed yet."""
        if not self.enqueued_ids:
            return 0
        done = set(
            ImportFile.objects.filter(pk__in=self.enqueued_ids, status__in=TERMINAL_STATUSES).values_list(
                "pk", flat=True
            )
        )
        gone = self.enqueued_ids - set(ImportFile.objects.filter(pk__in=self.enqueued_ids).values_list("pk", flat=True))
        return len(self.enqueued_ids - done - gone)

    def queue_is_empty(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.options.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attrs.get("ApproximateNumberOfMessages", 0)) == 0
            and int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)) == 0
        )

    # --- the loop ---------------------------------------------------------------------------
    def run(
        self,
        *,
        once: bool = False,
        max_messages: int | None = None,
        drain: bool = False,
        drain_timeout: float | None = None,
    ) -> RunSummary:
        summary = RunSummary()
        started = time.monotonic()
        failures_in_a_row = 0
        self.maybe_sweep(force=self.options.sweep_interval > 0)
        while not self.stopping:
            close_old_connections()
            try:
                messages = self.receive()
                failures_in_a_row = 0
            except Exception as exc:  # SQS unreachable: wait and poll again, never exit
                failures_in_a_row += 1
                summary.errors += 1
                delay = min(30.0, 0.5 * 2 ** min(failures_in_a_row, 6))
                logger.warning("receiving from %s failed (retry in %.1fs): %s", self.options.queue_url, delay, exc)
                self._stop.wait(delay)
                messages = []
            handled: list[dict] = []
            for message in messages:
                try:
                    result = self.handle(message, delete=False)
                    handled.append(message)
                except Exception:
                    # The database is unwell: leave the message; it becomes visible again and is retried.
                    summary.errors += 1
                    logger.exception("could not handle message %s; it stays in the queue", message.get("MessageId"))
                    close_old_connections()
                    continue
                summary.messages += 1
                summary.registered += len(result.registered)
                summary.rejected += 1 if result.rejected else 0
            # Every handled message has committed (and rung): now they may go, in one call.
            self._delete_batch(handled)
            summary.swept += len(self.maybe_sweep())
            if once or (max_messages is not None and summary.messages >= max_messages):
                break
            if drain:
                if not messages and self.outstanding() == 0 and self.queue_is_empty():
                    summary.drained = True
                    break
                if drain_timeout is not None and time.monotonic() - started > drain_timeout:
                    summary.timed_out = True
                    break
                if not messages:
                    self._stop.wait(0.2)
        summary.enqueued = len(self.enqueued_ids)
        return summary
