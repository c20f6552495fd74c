"""``manage.py reconcile FILE_OR_S3_URI [--apply] [--apply-content] [--apply-deletes] [--dry-run] [--json]
[--resend-file PATH]``: compare the website with one of System Two's snapshots, and repair."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingest.management.progress import Progress
from ingest.services.repair.reconcile import Requested, SnapshotError, reconcile


class Command(BaseCommand):
    help = (
        "Compare the website's rows of one stream with a System Two snapshot (JSON Lines, GZIP if .gz) and "
        "report missing, behind, ahead, differs, only_on_website and in_sync keys; repair on request."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", metavar="FILE_OR_S3_URI")
        parser.add_argument("--apply", action="store_true", help="Repair missing and behind keys from full rows.")
        parser.add_argument(
            "--apply-content", action="store_true", help="Overwrite differs rows with the snapshot's, same version."
        )
        parser.add_argument(
            "--apply-deletes", action="store_true", help="Mark only_on_website rows deleted (version unchanged)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what a run with the same flags would do; change nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the counts.")
        parser.add_argument(
            "--resend-file", metavar="PATH", help="Write the keys System Two must send again (JSON Lines)."
        )

    def handle(self, *args, source: str, resend_file: str | None, **options) -> None:
        requested = Requested(options["apply"], options["apply_content"], options["apply_deletes"])
        uri = source if source.startswith("s3://") else str(Path(source).resolve())
        out = None
        try:
            if resend_file:
                out = Path(resend_file).open("w", encoding="utf-8")  # noqa: SIM115 - closed below, after the run
            with Progress(
                self, total=None, unit="B", unit_scale=True, desc=f"reconcile {source}", plain=options["json"]
            ) as progress:
                report = reconcile(
                    uri,
                    requested,
                    trigger="command",
                    resend_to=out,
                    dry_run=options["dry_run"],
                    progress=progress.advance,
                    progress_total=progress.set_total,
                )
        except (SnapshotError, ValueError, OSError) as exc:
            raise CommandError(f"{source}: {exc}") from exc
        finally:
            if out is not None:
                out.close()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json()))
            return
        header = report.header
        assert header is not None
        what = "dry run (nothing changed)" if report.dry_run else f"run #{report.run_id}"
        self.stdout.write(
            f"{report.stream}: snapshot taken at {header.taken_at.isoformat()},"
            f" {'complete' if header.complete else 'partial'}, {header.rows} rows; {what}"
        )
        for name, value in report.counts.items():
            self.stdout.write(f"  {name:<17} {value}")
        if requested.asked() and not header.full and not report.dry_run:
            self.stdout.write("  (a versions snapshot cannot repair: use --resend-file for the keys to send again)")
