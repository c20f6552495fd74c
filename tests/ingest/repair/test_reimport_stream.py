"""A file that failed for a wrong or missing stream is imported again as the right one, keeping its attempts."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ingest.models import ImportAttempt, ImportFile, ImportStatus
from ingest.services.repair.reimport import reimport_files
from ingest.testing.imports import register_and_import
from ingest.testing.samples import firehose_body, order_events
from website.models import Order

pytestmark = pytest.mark.django_db


def orders_file(tmp_path: Path, folder: str) -> Path:
    """Orders lines in a folder that names no stream (or the wrong one)."""
    path = tmp_path / folder / "batch-1"
    path.parent.mkdir(parents=True)
    path.write_bytes(firehose_body(order_events(3)))
    return path


def attempts(f: ImportFile) -> list[str]:
    return list(ImportAttempt.objects.filter(import_file=f).order_by("number").values_list("status", flat=True))


def failed_without_stream(tmp_path: Path) -> tuple[ImportFile, Path]:
    path = orders_file(tmp_path, "misc")
    with pytest.raises(CommandError):
        call_command("import_file", str(path))
    f = ImportFile.objects.get()
    assert f.status == ImportStatus.FAILED and "cannot tell the stream" in f.error_message
    return f, path


def test_import_file_force_stream_fixes_a_failed_file(tmp_path, capsys):
    f, path = failed_without_stream(tmp_path)
    call_command("import_file", "--stream", "orders", str(path))
    out = capsys.readouterr().out
    assert "skipped, already failed" in out and "--force imports it again" in out
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and f.stream == ""

    call_command("import_file", "--force", "--stream", "orders", str(path))
    f.refresh_from_db()
    assert f.status == ImportStatus.IMPORTED and f.stream == "orders" and f.rows_created == 3
    assert attempts(f) == [ImportStatus.FAILED, ImportStatus.IMPORTED]
    assert Order.objects.count() == 3


def test_import_file_force_stream_dry_run_imports_as_that_stream_and_changes_nothing(tmp_path, capsys):
    f, path = failed_without_stream(tmp_path)
    call_command("import_file", "--force", "--dry-run", "--stream", "orders", str(path))
    out = capsys.readouterr().out
    assert "imported (dry run, rolled back): 3 lines, 3 created" in out
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and f.stream == "" and attempts(f) == [ImportStatus.FAILED]
    assert not Order.objects.exists()


def test_reimport_id_stream_fixes_a_file_imported_as_the_wrong_stream(tmp_path):
    path = orders_file(tmp_path, "customers")
    f, _ = register_and_import(path)
    assert f.stream == "customers"
    first_error = f.line_errors.first()
    assert f.status == ImportStatus.IMPORTED_WITH_ERRORS
    assert first_error is not None and "in a customers file" in first_error.message

    call_command("reimport", "--id", str(f.pk), "--stream", "orders", "--sync")
    f.refresh_from_db()
    assert f.stream == "orders" and f.status == ImportStatus.IMPORTED and f.rows_created == 3
    assert attempts(f) == [ImportStatus.IMPORTED_WITH_ERRORS, ImportStatus.IMPORTED]


def test_reimport_id_stream_dry_run_says_as_what_and_changes_nothing(tmp_path, capsys):
    f, _ = failed_without_stream(tmp_path)
    call_command("reimport", "--id", str(f.pk), "--stream", "orders", "--dry-run")
    assert f"would re-import file #{f.pk}" in capsys.readouterr().out
    f.refresh_from_db()
    assert f.stream == "" and f.status == ImportStatus.FAILED


def test_without_named_files_stream_still_selects(tmp_path):
    f, _ = failed_without_stream(tmp_path)
    # --stream orders as a filter: the file has no stream, so nothing is selected.
    call_command("reimport", "--stream", "orders", "--status", "failed", "--sync")
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED and f.stream == ""


def test_an_unknown_stream_is_refused(tmp_path):
    f, _ = failed_without_stream(tmp_path)
    with pytest.raises(ValueError, match="unknown stream"):
        reimport_files([f], sync=True, stream="nonsense")
