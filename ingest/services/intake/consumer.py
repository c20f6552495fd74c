"""The event consumer: S3 notifications from SQS become registered files and enqueued imports.

For each message: read it, register every created object as an ImportFile (idempotent: a
second notification of the same object finds the same row) in one transaction, ring the
import task's task once that transaction has committed, and only then delete the message.
A crash anywhere before the delete leaves the message in the queue, to be read again.

The database, not the broker, is the source of truth: a file is ``pending`` until a worker
has imported it. When the broker loses a task (Redis restarted without persistence, a publish
that failed), the file is still pending, and the periodic sweep enqueues it again. The same
sweep gives back files left ``running`` by a worker that died and whose message did not come
back. Extra tasks are harmless: the importer imports each file once.

A broker that restarted empty (Redis without persistence) lost the tasks it held while the
consumer saw nothing fail: each look compares the broker's ``run_id`` with the last one seen and,
when it changed, rings every pending file again (ingest/services/intake/broker_watch.py).

On PostgreSQL the check for running files runs every ``INGEST_ORPHAN_CHECK_SECONDS`` (one
``FOR UPDATE SKIP LOCKED`` query, see ingest/services/importing/lifecycle.py): a file whose importer died
is importing again within seconds. SQS, Redis or the database unreachable never stop the loop:
it backs off, logs one line when the outage starts and one when it ends, and resumes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus, UnreadableMessage
from ingest.services.importing import lifecycle
from ingest.services.importing.enqueue import enqueue_import
from ingest.services.importing.exceptions import DATABASE_GONE
from ingest.services.importing.line_errors import storable_text
from ingest.services.intake.broker_watch import BrokerWatch
from ingest.services.intake.consumer_types import ConsumerOptions, MessageResult, RunSummary, sqs_client
from ingest.services.intake.crash_points import crash_point
from ingest.services.intake.error_output import register_error_object
from ingest.services.intake.ledger import register_unless_pruned
from ingest.services.intake.notifications import MessageUnreadable, parse_notification
from ingest.services.intake.outages import Outage
from ingest.services.intake.registration import ERRORS_REFUSAL, refusal
from ingest.services.intake.sweep import SweepClock, files_to_enqueue, retries_due
from ingest.services.observing.periodic import periodic_jobs
from ingest.services.repair.reconcile.registration import enqueue_run, is_snapshot_object, register_snapshot, sweep_runs

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = lifecycle.TERMINAL_STATUSES


class EventConsumer:
    """Long-polls one queue; see the module docstring. ``request_stop()`` ends ``run`` after the batch."""

    def __init__(
        self,
        options: ConsumerOptions,
        *,
        sqs=None,
        enqueue: Callable[..., None] = enqueue_import,
        echo: Callable[[str], None] | None = None,
        watch_broker: bool | None = None,
    ) -> None:
        """``watch_broker``: look for broker restarts (default: when the task is the Celery task)."""
        if not options.queue_url:
            raise ValueError("no queue URL: set INGEST_QUEUE_URL or pass --queue-url")
        if not 1 <= options.batch_size <= 10:
            raise ValueError("SQS returns 1 to 10 messages per receive")
        self.options = options
        self._own_sqs = sqs is None
        self.sqs = sqs if sqs is not None else sqs_client(options.wait_time_seconds)
        self.enqueue = enqueue
        self.echo = echo or (lambda line: logger.info("%s", line))
        self.enqueued_ids: set[int] = set()
        self.enqueue_failures = 0
        self._stop = threading.Event()
        self.clock = SweepClock(options.sweep_interval, options.orphan_check_interval)
        self.sqs_outage = Outage("SQS", logger)
        self.broker_outage = Outage("the broker", logger)
        self.db_outage = Outage("the database", logger)
        self._broker_failed_this_round = False
        if watch_broker is None:
            watch_broker = enqueue is enqueue_import
        self.broker_watch = BrokerWatch.for_broker() if watch_broker else None

    # --- stopping ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the task -----------------------------------------------------------------------
    def _enqueue(self, import_file_id: int, trigger: str = "task") -> None:
        """After commit: enqueue the import. A broker that is down leaves the file pending for the sweep."""
        crash_point("consumer:before-enqueue")
        # Once a publish has failed, the rest of this round does not wait on the broker one file at a time.
        if not self._broker_failed_this_round:
            try:
                if trigger == "task":
                    self.enqueue(import_file_id)
                else:
                    self.enqueue(import_file_id, trigger)
            except Exception as exc:  # any publish failure: the database still says "pending"
                self._broker_failed_this_round = True
                self.broker_outage.failed(exc)
            else:
                self.broker_outage.recovered()
                self.enqueued_ids.add(import_file_id)
                return
        self.enqueue_failures += 1
        ImportFile.objects.filter(pk=import_file_id, status=ImportStatus.PENDING).update(enqueued_at=None)

    def _schedule(self, import_file_id: int, trigger: str = "task") -> None:
        ImportFile.objects.filter(pk=import_file_id).update(enqueued_at=timezone.now())
        transaction.on_commit(partial(self._enqueue, import_file_id, trigger))

    # --- messages ---------------------------------------------------------------------------
    def receive(self) -> list[dict]:
        kwargs = {
            "QueueUrl": self.options.queue_url,
            "MaxNumberOfMessages": self.options.batch_size,
            "WaitTimeSeconds": self.clock.poll_seconds(self.options.wait_time_seconds),
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
        }
        if self.options.visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = self.options.visibility_timeout
        return self.sqs.receive_message(**kwargs).get("Messages", [])

    def _delete(self, message: dict) -> bool:
        crash_point("consumer:before-delete")
        try:
            self.sqs.delete_message(QueueUrl=self.options.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception as exc:  # the message comes back later; registering it again is harmless
            logger.warning("could not delete message %s: %s", message.get("MessageId"), exc)
            return False
        return True

    def _record_rejection(self, message: dict, error: str) -> None:
        """Keep what could not be used, as text any database can hold (NUL escaped)."""
        attributes = message.get("Attributes") or {}
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", 1))
        except ValueError:
            receive_count = 1
        UnreadableMessage.objects.update_or_create(
            queue_url=self.options.queue_url,
            message_id=message.get("MessageId", ""),
            defaults={
                "receive_count": receive_count,
                "body": storable_text(message.get("Body", "")),
                "error": storable_text(error),
                "received_at": timezone.now(),
            },
        )

    def _delete_batch(self, messages: list[dict]) -> None:
        """One DeleteMessageBatch call for the messages handled in one receive (at most 10)."""
        if not messages:
            return
        crash_point("consumer:before-delete")
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
        crash_point("consumer:before-registration")
        try:
            notification = parse_notification(message.get("Body", ""))
        except MessageUnreadable as exc:
            return self._reject(message, result, str(exc), delete=delete)
        except Exception as exc:  # parsing is pure: whatever it raises is the body's fault, not a passing one
            return self._reject(message, result, f"unreadable message ({type(exc).__name__}: {exc})", delete=delete)
        if notification.is_test_event:
            result.test_event = True
            result.deleted = self._delete(message) if delete else True
            return result

        lines: list[str] = []
        refused: list[str] = []
        with transaction.atomic():
            for index, event in enumerate(notification.events):
                if not event.is_created:
                    result.ignored_events += 1
                    continue
                obj = event.s3_object
                reason = refusal(obj, bucket=settings.INGEST_BUCKET)
                if reason and is_snapshot_object(obj, bucket=settings.INGEST_BUCKET):  # System Two's snapshot
                    lines.append(self._snapshot(obj))
                    continue
                if reason == ERRORS_REFUSAL:  # Firehose's error output: its records are kept for redrive
                    error_file, _ = register_error_object(
                        obj.bucket, obj.key, etag=obj.etag, size=obj.size, event_time=obj.event_time
                    )
                    lines.append(
                        f"error-output file #{error_file.pk} {error_file}: {error_file.records_count} record(s)"
                    )
                    continue
                if reason:
                    refused.append(f"record {index} (s3://{obj.bucket}/{obj.key!r}): {reason}")
                    continue
                f, created = register_unless_pruned(obj, registered_by="notification")
                if f is None:  # imported long ago and pruned: the ledger remembers it
                    result.ignored_events += 1
                    lines.append(f"already imported (pruned, in the ledger) s3://{obj.bucket}/{obj.key}")
                    continue
                if created:
                    result.registered.append(f.pk)
                if created or f.status == ImportStatus.PENDING:
                    self._schedule(f.pk)
                    result.enqueued.append(f.pk)
                    lines.append(f"{'registered' if created else 'pending again'} file #{f.pk} {f.uri}")
                else:
                    lines.append(f"already known file #{f.pk} {f.uri} ({f.status})")
            if refused:
                result.rejected = "; ".join(refused)
                self._record_rejection(message, result.rejected)
        # The transaction has committed and the tasks have enqueued_again: the message can go.
        for line in lines:
            self.echo(line)
        if refused:
            logger.error("rejected in message %s: %s", result.message_id, result.rejected)
            self.echo(f"rejected in message {result.message_id}: {result.rejected}")
        result.deleted = self._delete(message) if delete else True
        return result

    def _snapshot(self, obj) -> str:
        """Register a snapshot object (once per content) and ring its reconciliation after commit."""
        run, created = register_snapshot(obj)
        if created:
            transaction.on_commit(partial(enqueue_run, run.pk))
        return f"{'registered' if created else 'already known'} snapshot, reconciliation run #{run.pk} {run.source}"

    def _reject(self, message: dict, result: MessageResult, reason: str, *, delete: bool) -> MessageResult:
        """Record a message that announces nothing usable, then let it go: it would never read better."""
        result.rejected = reason
        self._record_rejection(message, reason)
        logger.error("unreadable message %s: %s", result.message_id, reason)
        self.echo(f"unreadable message {result.message_id}: {reason}")
        result.deleted = self._delete(message) if delete else True
        return result

    # --- an outage ---------------------------------------------------------------------------
    def _backoff(self, failures: int) -> float:
        """The wait after ``failures`` failed calls in a row: 0.5 s doubling, up to ``backoff_max``."""
        return min(self.options.backoff_max, 0.5 * 2 ** min(failures, 6))

    def _release(self, messages: list[dict]) -> None:
        """Make messages this consumer received but could not handle (the database failed) visible
        again after the consumer's backoff, instead of the queue's whole visibility timeout.

        Each receive counts towards the DLQ's maxReceiveCount, so the consumer does not receive
        again while the database is down (``_database_answers``): an outage costs a message one
        receive, not one per backoff. See docs/operations.md."""
        if not messages:
            return
        delay = math.ceil(self._backoff(self.db_outage.failures))
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": delay}
            for n, m in enumerate(messages)
        ]
        try:
            response = self.sqs.change_message_visibility_batch(QueueUrl=self.options.queue_url, Entries=entries)
        except Exception as exc:  # they come back after the queue's visibility timeout instead
            logger.warning("could not make %s unhandled message(s) visible again: %s", len(messages), exc)
            return
        for failure in response.get("Failed", []):
            logger.warning("could not make message %s visible again: %s", failure.get("Id"), failure.get("Message"))

    def _database_answers(self) -> bool:
        """During a database outage, whether it answers again (one ``SELECT 1``); True otherwise.
        Messages are not received while it does not: each receive would count towards the DLQ."""
        if not self.db_outage.down:
            return True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            self.db_outage.failed(exc)
            close_old_connections()
            return False
        return True

    # --- the sweep --------------------------------------------------------------------------
    def sweep(self, *, orphans_only: bool = False, broker_lost_before: datetime | None = None) -> list[int]:
        """Enqueue again the running files nobody imports (their importer died: see lifecycle),
        the files whose retry is due, unless ``orphans_only`` the pending files whose task was
        lost, and the pending files whose task was set before ``broker_lost_before`` (lost with
        the broker's restart)."""
        opts = self.options
        self._broker_failed_this_round = False
        with transaction.atomic():
            to_enqueue = files_to_enqueue(
                requeue_after=opts.requeue_after,
                max_redeliveries=opts.max_redeliveries,
                abandoned_after=opts.abandoned_after,
                orphans_only=orphans_only,
                broker_lost_before=broker_lost_before,
            )
            due = [pk for pk in retries_due() if pk not in to_enqueue]
            for pk in to_enqueue:
                self._schedule(pk)
            for pk in due:
                self._schedule(pk, "retry")
        if to_enqueue:
            self.echo(
                f"sweep: enqueued again {len(to_enqueue)} file(s): {', '.join(f'#{pk}' for pk in to_enqueue[:20])}"
            )
        if due:
            self.echo(f"sweep: sent {len(due)} due retry task(s): {', '.join(f'#{pk}' for pk in due[:20])}")
        return to_enqueue + due

    def maybe_sweep(self, *, force: bool = False) -> list[int]:
        """The full sweep every ``sweep_interval``; on PostgreSQL the running files in between, often."""
        due = self.clock.due(force=force)
        if not due:
            return []
        if due == "full":
            periodic_jobs()
            sweep_runs()
        lost_before = self.broker_watch.lost_before() if self.broker_watch else None
        try:
            # While the broker is down, files wait for a task: look for them at every check.
            enqueued_again = self.sweep(
                orphans_only=due == "orphans" and not self.broker_outage.down, broker_lost_before=lost_before
            )
        except DATABASE_GONE as exc:
            self.db_outage.failed(exc)
            return []
        except Exception:
            logger.exception("sweep failed; trying again next interval")
            return []
        self.db_outage.recovered()
        if lost_before is not None and self.broker_watch:
            self.broker_watch.enqueued_again()
        return enqueued_again

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
    def _poll(self) -> list[dict] | None:
        """One receive; None if SQS did not answer (after a backoff, with a fresh client)."""
        try:
            messages = self.receive()
        except Exception as exc:  # SQS unreachable: back off, reconnect, poll again; never exit
            self.sqs_outage.failed(exc)
            self._stop.wait(min(self.options.backoff_max, 0.5 * 2 ** min(self.sqs_outage.failures, 6)))
            if self._own_sqs:
                self.sqs = sqs_client(self.options.wait_time_seconds)
            return None
        self.sqs_outage.recovered()
        return messages

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
        self.maybe_sweep(force=self.options.sweep_interval > 0)
        while not self.stopping:
            close_old_connections()  # a connection the database dropped (restart) is replaced here
            self._broker_failed_this_round = False
            if self._database_answers():
                messages = self._poll()
            else:  # not received meanwhile: each receive counts towards the DLQ
                self._stop.wait(self._backoff(self.db_outage.failures))
                messages = None
            if messages is None:
                summary.errors += 1
                messages = []
            handled: list[dict] = []
            unhandled: list[dict] = []
            for message in messages:
                try:
                    result = self.handle(message, delete=False)
                    handled.append(message)
                except Exception as exc:
                    # The database is unwell: leave the message; it becomes visible again and is retried.
                    summary.errors += 1
                    if isinstance(exc, DATABASE_GONE):
                        self.db_outage.failed(exc)
                    else:
                        logger.exception("could not handle message %s; it stays in the queue", message.get("MessageId"))
                    close_old_connections()
                    unhandled.append(message)
                    continue
                self.db_outage.recovered()
                summary.messages += 1
                summary.registered += len(result.registered)
                summary.rejected += 1 if result.rejected else 0
            # Every handled message has committed (and enqueued_again): now they may go, in one call.
            self._delete_batch(handled)
            self._release(unhandled)
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
