"""``manage.py demo``: run the whole pipeline locally, with nothing to install or start."""

from __future__ import annotations

import json
import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from ingest.demo.run import DEFAULT_EVENTS, DemoOptions, run_demo
from ingest.demo.summary import format_summary


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


class Command(BaseCommand):
    help = (
        "Send a burst of System Two events through the local import API, the Firehose stand-in (the real "
        "transform), S3 and SQS (an in-process moto), the consumer and a Celery worker (in-process, memory "
        "broker) into the database (DATABASE_URL, SQLite by default), then print a summary."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--events", type=int, default=DEFAULT_EVENTS, help=f"How many events (default {DEFAULT_EVENTS})."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the event generator (default 0).")
        parser.add_argument(
            "--invalid-fraction", type=float, default=0.01, help="Share of invalid events (default 0.01)."
        )
        parser.add_argument(
            "--no-inject",
            action="store_true",
            help="Do not push the events the API rejected into the stream (to show the error output).",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Empty the nine website tables and the import history first."
        )
        parser.add_argument("--password", help="Password of the 'demo' admin user (default: a new random one).")
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="Give up after this many seconds (default 300)."
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON (progress goes to stderr).")
        parser.add_argument(
            "--keep",
            action="store_true",
            help="After the summary, keep everything running (the import API and the admin on --port) until Ctrl-C.",
        )
        parser.add_argument("--port", type=int, default=8000, help="With --keep: the port to serve on (default 8000).")

    def handle(self, *args, **opts) -> None:
        if opts["events"] < 1:
            raise CommandError("--events must be at least 1")
        as_json = opts["json"]

        def progress(line: str) -> None:
            if as_json:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            else:
                self.stdout.write(line)
                self.stdout.flush()

        quiet = opts["verbosity"] < 2
        # The importer and Celery log every file at INFO, Django every 400 the API answers and the
        # transform every record it rejects at WARNING; the progress lines and the summary say
        # enough. Filters, not levels: Celery's Django fixup runs django.setup() again, which
        # resets logger levels.
        noisy = [
            logging.getLogger(name)
            for name in (
                "django.request",
                "transforms.handler",
                "ingest.services.intake.error_output",
                "ingest.demo.redrive",
            )
        ]
        if quiet:
            logging.disable(logging.INFO)
            for logger in noisy:
                logger.addFilter(_errors_only)
        try:
            summary = self._run(opts, progress)
        finally:
            if quiet:
                logging.disable(logging.NOTSET)
                for logger in noisy:
                    logger.removeFilter(_errors_only)
        if not opts["keep"]:
            self._print(summary, as_json)
        if not summary.ok:
            raise CommandError("the demo did not complete cleanly (see the summary)")

    def _print(self, summary, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(summary.as_dict(), indent=2))
        else:
            self.stdout.write(format_summary(summary))
        self.stdout.flush()

    def _run(self, opts, progress):
        return run_demo(
            DemoOptions(
                events=opts["events"],
                seed=opts["seed"],
                invalid_fraction=opts["invalid_fraction"],
                inject_invalid=not opts["no_inject"],
                reset=opts["reset"],
                password=opts["password"],
                timeout_seconds=opts["timeout"],
                progress=progress,
                keep=opts["keep"],
                port=opts["port"] if opts["keep"] else 0,
                on_summary=lambda summary: self._print(summary, opts["json"]),
            )
        )
