"""``manage.py redrive``: run today's transform again over the records Firehose rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from ingest.management.progress import Progress
from ingest.services.repair.redrive import records_to_redrive, redrive
from transforms.streams import STREAM_NAMES


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"not an ISO 8601 date or time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Redrive the records Firehose rejected (errors/…): today's transform runs on each; those that pass "
        "are written as a System One file and imported once, those that still fail stay listed with the new reason."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--stream", choices=STREAM_NAMES, help="Only this stream.")
        parser.add_argument("--since", type=_when, help="Records that arrived at or after this time (ISO 8601, UTC).")
        parser.add_argument("--until", type=_when, help="Records that arrived before this time (ISO 8601, UTC).")
        parser.add_argument("--dry-run", action="store_true", help="Say what would pass; change nothing.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the result as one JSON object; progress as plain lines on stderr, never a bar.",
        )

    def handle(self, *args, **opts) -> None:
        window = {"stream": opts["stream"], "since": opts["since"], "until": opts["until"]}
        total = records_to_redrive(**window)
        with Progress(self, total=total, unit="record", desc="redrive", plain=opts["json"]) as progress:
            report = redrive(**window, dry_run=opts["dry_run"], progress=progress.advance)
        if opts["json"]:
            data = {
                "dry_run": report.dry_run,
                "passed": report.passed,
                "still_failing": report.still_failing,
                "unknown_stream": report.unknown_stream,
                "streams": {
                    name: {"passed": r.passed, "still_failing": r.still_failing, "files": r.files, "reasons": r.reasons}
                    for name, r in report.streams.items()
                },
            }
            self.stdout.write(json.dumps(data))
            return
        verb = "would pass" if report.dry_run else "pass"
        for name, result in report.streams.items():
            files = f" → file(s) {', '.join(f'#{pk}' for pk in result.files)}" if result.files else ""
            self.stdout.write(f"{name}: {result.passed} {verb}{files}, {result.still_failing} still fail")
            for reason, n in sorted(result.reasons.items(), key=lambda item: -item[1])[:5]:
                self.stdout.write(f"    {n} x {reason}")
        if report.unknown_stream:
            self.stdout.write(
                f"{report.unknown_stream} record(s) of error-output files naming no stream: left as they are"
            )
        label = "redrive (dry run)" if report.dry_run else "redrive"
        self.stdout.write(f"{label}: {report.passed} {verb}, {report.still_failing} still fail")
