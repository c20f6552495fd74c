"""``manage.py prune [--dry-run] [--older-than 90d] [--kind K]``: remove what is past its retention now."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from ingest.management.progress import Progress
from ingest.services.retention.prune import KIND_NAMES, prune

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w``, ``30m``, ``45s`` or a bare number of days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not an age such as 90d, 12h, 2w (a bare number is days)")
    number, unit = float(match.group(1)), match.group(2) or "d"
    return timedelta(**{_UNITS[unit]: number})


class Command(BaseCommand):
    help = (
        "Roll up the aggregates, then prune every kind of record past its retention (INGEST_RETAIN_*_DAYS) in "
        "small batches, and print what was removed per kind. Pruned import files stay in the ledger."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be removed; change nothing.")
        parser.add_argument(
            "--older-than",
            help="Prune records older than this age (90d, 12h, 2w; a bare number is days) instead of each kind's "
            "retention; the hourly and daily aggregates keep their own.",
        )
        parser.add_argument("--kind", action="append", choices=KIND_NAMES, help="Only this kind (repeatable).")
        parser.add_argument("--batch-size", type=int, help="Rows per batch (default INGEST_PRUNE_BATCH_SIZE).")

    def handle(self, *args, dry_run: bool, older_than: str | None, kind, batch_size, **options) -> None:
        try:
            age = parse_age(older_than) if older_than else None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        kinds = tuple(kind) if kind else None
        if dry_run:
            report = prune(older_than=age, dry_run=True, kinds=kinds)
        else:
            # The total of the bar: what a dry run counts now (index scans; a few more may expire meanwhile).
            total = prune(older_than=age, dry_run=True, kinds=kinds).total
            with Progress(self, total=total, unit="row", desc="prune") as progress:
                report = prune(
                    older_than=age,
                    kinds=kinds,
                    batch_size=batch_size,
                    on_batch=lambda _kind, n, _took: progress.advance(n),
                )
        if report.hours_rolled_up:
            self.stdout.write(f"rolled up {report.hours_rolled_up} hour(s) into the aggregates")
        for line in report.lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("dry run: nothing changed")
