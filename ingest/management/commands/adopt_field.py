"""``manage.py adopt_field STREAM FIELD [--dry-run]``: fill a newly adopted field's column from the
extras stored on every row (docs/operations.md, "Adopting a new field")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ingest.management.progress import Progress
from ingest.services.repair.adopt_field import BATCH_SIZE, AdoptError, AdoptReport, adopt_field, rows_holding
from transforms.streams import STREAM_NAMES


class Command(BaseCommand):
    help = (
        "Fill the column of a field just added to transforms/streams.json and the model from the extras "
        "(source_extras) of every row at its current version; batched, resumable, idempotent, safe beside imports."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("stream", choices=STREAM_NAMES)
        parser.add_argument(
            "field", help="The field's name in the contract (inside an object: billingAddress.gateCode)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be adopted; change nothing.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Rows per transaction.")
        parser.add_argument("--after-id", type=int, default=0, help="Start after this row id (resume a long run).")

    def handle(self, *args, **opts) -> None:
        verbosity = opts["verbosity"]
        try:
            total = rows_holding(opts["stream"], opts["field"], after_id=opts["after_id"])
        except AdoptError as exc:
            raise CommandError(str(exc)) from exc
        desc = f"adopt_field {opts['stream']} {opts['field']}"
        with Progress(self, total=total, unit="row", desc=desc) as bar:

            def progress(report: AdoptReport) -> None:
                bar.advance(report.found - bar.done)
                if verbosity >= 2:
                    self.stdout.write(
                        f"  batch {report.batches}: up to id {report.last_id}, {report.found} found,"
                        f" {report.adopted} adopted, {report.rows_per_second:,.0f} rows/s"
                    )

            try:
                report = adopt_field(
                    opts["stream"],
                    opts["field"],
                    dry_run=opts["dry_run"],
                    batch_size=max(1, opts["batch_size"]),
                    after_id=opts["after_id"],
                    progress=progress,
                )
            except AdoptError as exc:
                raise CommandError(str(exc)) from exc
        label = f"adopt_field {report.stream} {report.field} -> column {report.column}"
        if report.dry_run:
            label += " (dry run)"
        verb = "would be adopted" if report.dry_run else "adopted"
        self.stdout.write(
            f"{label}: {report.found} row(s) held it in their extras; {report.adopted} {verb}, "
            f"{report.newer} left (a newer version arrived meanwhile), {report.invalid} not valid for the field's type"
            f" (left in the extras); {report.batches} batch(es), last id {report.last_id},"
            f" {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)"
        )
        for example in report.invalid_examples:
            self.stdout.write(f"    {example}")
