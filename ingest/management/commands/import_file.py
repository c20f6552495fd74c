"""``manage.py import_file [--stream STREAM] [--force] PATH_OR_S3_URI...``: import files now, in this process."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingest.management.progress import Progress
from ingest.services.importing.exceptions import ImportBusy, TransientImportError
from ingest.services.importing.run import import_file
from ingest.services.importing.sources import s3_storage
from ingest.services.intake.registration import S3Object, parse_s3_uri, register_local_file, register_s3_object
from ingest.services.repair.reimport import dry_run_import, reimport_files
from transforms.streams import STREAM_NAMES


class Command(BaseCommand):
    help = "Import System One files (local paths or s3:// URIs) synchronously and print a summary per file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("sources", nargs="+", metavar="PATH_OR_S3_URI")
        parser.add_argument(
            "--stream",
            choices=STREAM_NAMES,
            help="The stream of every file; by default the first path segment of the key names it.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Import again a file already imported or failed (its attempts are kept); with --stream, as that "
            "stream: the fix for a file that failed for a wrong or missing stream.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Import in a transaction that is rolled back.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="One JSON object per file imported, skipped or failed; progress as plain lines on stderr, no bar.",
        )

    def handle(self, *args, sources: list[str], stream: str | None, force: bool, dry_run: bool, **options) -> None:
        failed = 0
        for source in sources:
            try:
                f = self._register(source, stream or "")
            except (ValueError, OSError) as exc:
                self.stderr.write(f"{source}: cannot register: {exc}")
                failed += 1
                continue
            if stream and f.stream != stream and f.status == "pending":
                f.stream = stream
                f.save(update_fields=["stream"])
            if force and not dry_run:
                with Progress(self, total=f.size, unit="B", unit_scale=True, desc=source, plain=options["json"]) as bar:
                    report = reimport_files([f], sync=True, trigger="command", stream=stream, bytes_read=bar.advance)
                if report.skipped:
                    self.stderr.write(f"{source}: not imported now: {report.skipped[0][1]} (file #{f.pk})")
                    failed += 1
                    continue
                outcome = report.imported[0]
            else:
                try:
                    if dry_run:
                        outcome = dry_run_import(f.pk, stream=stream)
                    else:
                        with Progress(
                            self, total=f.size, unit="B", unit_scale=True, desc=source, plain=options["json"]
                        ) as progress:
                            outcome = import_file(f.pk, trigger="command", progress=progress.advance)
                except (ImportBusy, TransientImportError) as exc:
                    self.stderr.write(f"{source}: not imported now: {exc}")
                    failed += 1
                    continue
            if options["json"]:
                failed += int(outcome.failed)
                result = {"source": source, "id": f.pk, "status": outcome.status, "dry_run": dry_run}
                result.update(skipped=outcome.skipped_reason, error=outcome.error, counts=outcome.counts)
                self.stdout.write(json.dumps(result))
                continue
            if outcome.skipped_reason:
                self.stdout.write(
                    f"{source}: skipped, {outcome.skipped_reason} (file #{f.pk}; --force imports it again)"
                )
                continue
            if outcome.failed:
                failed += 1
                self.stdout.write(f"{source}: FAILED: {outcome.error} (file #{f.pk})")
                continue
            c = outcome.counts
            self.stdout.write(
                f"{source}: {outcome.status}{' (dry run, rolled back)' if dry_run else ''}: "
                f"{c['lines_total']} lines, {c['rows_created']} created, {c['rows_updated']} updated, "
                f"{c['rows_stale']} stale, {c['rows_deleted']} deleted, {c['placeholders_created']} placeholders, "
                f"{c['errors_count']} errors (file #{f.pk})"
            )
        if failed:
            raise CommandError(f"{failed} of {len(sources)} file(s) failed")

    def _register(self, source: str, stream: str):
        if source.startswith("s3://"):
            bucket, key = parse_s3_uri(source)
            head = s3_storage(bucket).bucket.meta.client.head_object(Bucket=bucket, Key=key)
            obj = S3Object(bucket=bucket, key=key, etag=head["ETag"].strip('"'), size=head.get("ContentLength"))
            f, _ = register_s3_object(obj, registered_by="command")
            return f
        path = Path(source)
        if not path.is_file():
            raise ValueError("no such file")
        f, _ = register_local_file(path, stream=stream, registered_by="command")
        return f
