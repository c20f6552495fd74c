"""``manage.py reimport``: import selected files again, or the objects no notification announced."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.management.progress import Progress
from ingest.models import ImportFile, ImportStatus
from ingest.services.intake import ledger
from ingest.services.repair.reimport import ReimportReport, parse_when, reimport_files, reimport_missing, select_files
from transforms.streams import STREAM_NAMES


class Command(BaseCommand):
    help = (
        "Re-import files selected by id, key, prefix, stream, status and creation time (earlier attempts are "
        "kept), or with --missing import every object of the bucket that has no ImportFile."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--id", dest="ids", type=int, action="append", help="ImportFile id (repeatable; a pruned one too)."
        )
        parser.add_argument("--key", help="Exact S3 key (or local path); a pruned file of it is imported again.")
        parser.add_argument("--prefix", help="Key prefix, e.g. orders/2026/11/27/.")
        parser.add_argument(
            "--stream",
            choices=STREAM_NAMES,
            help="With --id or --key: import those files as this stream (the fix for a file that failed for a wrong "
            "or missing stream). Otherwise: select the files of this stream.",
        )
        parser.add_argument("--status", action="append", choices=ImportStatus.values, help="Repeatable, e.g. failed.")
        parser.add_argument("--since", help="Files registered at or after this date or datetime (UTC if naive).")
        parser.add_argument("--until", help="Files registered before this datetime, or up to the end of this date.")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="List the bucket under the nine stream prefixes and import every object without an ImportFile.",
        )
        parser.add_argument("--bucket", help="With --missing: the bucket to list (default INGEST_BUCKET).")
        parser.add_argument("--dry-run", action="store_true", help="Print what would be done and change nothing.")
        parser.add_argument("--sync", action="store_true", help="Import in this process instead of enqueueing.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the result as one JSON object; progress as plain lines on stderr, never a bar.",
        )

    def handle(self, *args, **opts) -> None:
        if opts["missing"]:
            with Progress(self, total=None, desc="reimport --missing", plain=opts["json"]) as progress:
                report = reimport_missing(
                    opts["bucket"] or settings.INGEST_BUCKET,
                    sync=opts["sync"],
                    dry_run=opts["dry_run"],
                    progress=progress.advance,
                )
            for obj in report.missing:
                self.stdout.write(f"{'would import' if opts['dry_run'] else 'missing'}: s3://{obj.bucket}/{obj.key}")
        else:
            # With named files, --stream corrects their stream rather than filtering them by it.
            as_stream = opts["stream"] if (opts["ids"] or opts["key"]) else None
            filters = {name: opts[name] for name in ("ids", "key", "prefix", "stream", "status", "since", "until")}
            if as_stream:
                filters["stream"] = None
            if not any(filters.values()):
                raise CommandError(
                    "select files with --id, --key, --prefix, --stream, --status, --since/--until, or use --missing"
                )
            try:
                for bound in ("since", "until"):
                    if filters[bound]:
                        parse_when(filters[bound])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            files: list[ImportFile] = list(select_files(**filters))
            if opts["ids"] or opts["key"]:  # named explicitly: a pruned file is imported again too
                files += self._pruned(opts["ids"], opts["key"], {f.pk for f in files}, opts["dry_run"])
            if opts["dry_run"]:
                for f in files:
                    as_what = f" as {as_stream}" if as_stream and as_stream != f.stream else ""
                    self.stdout.write(f"would re-import file #{f.pk} {f.uri} ({f.status}){as_what}")
            desc = "reimport --sync" if opts["sync"] else "reimport (enqueue)"
            with Progress(self, total=len(files), desc=desc, plain=opts["json"] or opts["dry_run"]) as progress:
                report = reimport_files(
                    files,
                    sync=opts["sync"],
                    dry_run=opts["dry_run"],
                    stream=as_stream,
                    progress=progress.advance,
                )
        if opts["json"]:
            self._print_json(report)
        else:
            self._print(report)

    def _print_json(self, report: ReimportReport) -> None:
        data = {
            "selected": report.selected,
            "dry_run": report.dry_run,
            "enqueued": report.enqueued,
            "imported": [
                {"id": o.import_file_id, "status": o.status, "skipped": o.skipped_reason, "error": o.error}
                for o in report.imported
            ],
            "skipped": [{"id": pk, "reason": reason} for pk, reason in report.skipped],
            "summary": report.summary(),
        }
        self.stdout.write(json.dumps(data))
        if any(o.failed for o in report.imported):
            raise CommandError("some re-imports failed")

    def _pruned(self, ids, key, found: set[int], dry_run: bool) -> list[ImportFile]:
        """The files of the ledger entries named by id or key and not registered now, registered again."""
        registered = set(ImportFile.objects.filter(key=key).values_list("bucket", "key", "etag")) if key else set()
        entries = [
            e
            for e in ledger.entries_for(key=key, ids=ids)
            if e.import_file_id not in found and (e.bucket, e.key, e.etag) not in registered
        ]
        for e in entries:
            self.stdout.write(f"{'would import' if dry_run else 'importing'} pruned file #{e.import_file_id} {e} again")
        if dry_run:
            return []
        return [f for f in ledger.revive(entries) if f.pk not in found]

    def _print(self, report: ReimportReport) -> None:
        ids = [*report.enqueued, *(o.import_file_id for o in report.imported), *(pk for pk, _ in report.skipped)]
        uris = dict(ImportFile.objects.filter(pk__in=ids).values_list("pk", "key"))
        for pk in report.enqueued:
            self.stdout.write(f"enqueued file #{pk} {uris.get(pk, '')}")
        for outcome in report.imported:
            what = outcome.skipped_reason or (f"FAILED: {outcome.error}" if outcome.failed else outcome.status)
            self.stdout.write(f"file #{outcome.import_file_id} {uris.get(outcome.import_file_id, '')}: {what}")
        for pk, reason in report.skipped:
            self.stdout.write(f"skipped file #{pk} {uris.get(pk, '')}: {reason}")
        self.stdout.write(report.summary())
        if any(o.failed for o in report.imported):
            raise CommandError("some re-imports failed")
