"""``manage.py consume_events``: S3 notifications from SQS -> registered files -> import tasks."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from ingest.services.intake.consumer import ConsumerOptions, EventConsumer


class Command(BaseCommand):
    help = (
        "Long-poll the ingest queue (INGEST_QUEUE_URL) for S3 event notifications, register each new object "
        "as an ImportFile and enqueue its import. SIGTERM/SIGINT: finish the current batch, then exit."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queue-url", help="Default: INGEST_QUEUE_URL.")
        parser.add_argument("--wait-time", type=int, help="Long-poll seconds (0-20); default settings.")
        parser.add_argument("--batch-size", type=int, default=10, help="Messages per receive (1-10).")
        parser.add_argument("--visibility-timeout", type=int, help="Seconds a received message stays hidden.")
        parser.add_argument("--sweep-interval", type=float, help="Seconds between sweeps; 0 turns the sweep off.")
        parser.add_argument("--requeue-after", type=float, help="Enqueue a pending file again after this many seconds.")
        parser.add_argument(
            "--abandoned-after", type=float, help="Enqueue a running file nobody imports after this many seconds."
        )
        parser.add_argument("--once", action="store_true", help="One receive (and sweep), then exit.")
        parser.add_argument("--max-messages", type=int, help="Exit after handling this many messages.")
        parser.add_argument(
            "--drain",
            action="store_true",
            help="Exit once the queue is empty and every import this process enqueued has finished.",
        )
        parser.add_argument("--drain-timeout", type=float, help="With --drain: fail after this many seconds.")

    def handle(self, *args, **opts) -> None:
        options = ConsumerOptions.from_settings(
            queue_url=opts["queue_url"],
            wait_time_seconds=opts["wait_time"],
            batch_size=opts["batch_size"],
            visibility_timeout=opts["visibility_timeout"],
            sweep_interval=opts["sweep_interval"],
            requeue_after=opts["requeue_after"],
            abandoned_after=opts["abandoned_after"],
        )
        try:
            consumer = EventConsumer(options, echo=lambda line: self.stdout.write(line))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        def stop(signum, _frame) -> None:
            self.stderr.write(f"{signal.Signals(signum).name}: finishing the current batch, then exiting")
            consumer.request_stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.stdout.write(f"consuming {options.queue_url} (long poll {options.wait_time_seconds}s)")
        try:
            summary = consumer.run(
                once=opts["once"],
                max_messages=opts["max_messages"],
                drain=opts["drain"],
                drain_timeout=opts["drain_timeout"],
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(
            f"stopped: {summary.messages} message(s), {summary.registered} file(s) registered, "
            f"{summary.enqueued} enqueued, {summary.rejected} rejected, {summary.swept} swept, "
            f"{summary.errors} error(s)" + (", drained" if summary.drained else "")
        )
        if summary.timed_out:
            raise CommandError("--drain-timeout passed before the queue was drained")
