"""Progress of the long commands: a tqdm bar on a terminal (done/total, rate, ETA), plain lines on
stderr when stdout is not a terminal or with ``--json``; the services only call a callback."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from ingest.management.progress import Progress
from ingest.models import ImportFile
from ingest.services.intake.registration import register_local_file
from tests.ingest.importing.test_run import ev, order, write


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Command:
    def __init__(self, out, err) -> None:
        self.stdout = type("W", (), {"_out": out})()
        self.stderr = type("W", (), {"_out": err})()


def test_on_a_terminal_a_bar_with_done_total_rate_and_eta():
    err = io.StringIO()
    with Progress(_Command(Terminal(), err), total=4, desc="reimport") as progress:
        assert progress.is_bar
        for _ in range(4):
            progress.advance()
    bar = err.getvalue()
    assert "reimport" in bar and "4/4" in bar and "file/s" in bar and "<" in bar  # elapsed<remaining


def test_not_a_terminal_plain_lines_with_done_total_rate_and_eta():
    err = io.StringIO()
    with Progress(_Command(io.StringIO(), err), total=3, desc="reimport", every=0.0) as progress:
        assert not progress.is_bar
        progress.advance()
        progress.advance(2)
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("reimport: 1/3 files (33%), ") and " files/s, ETA " in lines[0]
    assert lines[-1].startswith("reimport: 3/3 files (100%)") and lines[-1].endswith("(done)")


def test_json_asks_for_plain_lines_even_on_a_terminal():
    err = io.StringIO()
    with Progress(_Command(Terminal(), err), total=1, desc="x", plain=True) as progress:
        progress.advance()
    assert not progress.is_bar and err.getvalue().startswith("x: 1/1 files (100%)")


def test_an_unknown_total_has_no_eta():
    progress = Progress(None, total=None, desc="reimport --missing", plain=True)
    progress.advance(5)
    assert progress.line().startswith("reimport --missing: 5 files, ") and "so far" in progress.line()


def _two_files(tmp_path) -> list[ImportFile]:
    files = []
    for n in range(2):
        path = write(tmp_path, "orders", [ev("orders", {"orderNumber": f"SO-{n}"}, order(f"SO-{n}"))], name=f"f{n}")
        files.append(register_local_file(path)[0])
    return files


@pytest.mark.django_db(transaction=True)
def test_reimport_sync_shows_a_bar_on_a_terminal_and_json_on_demand(tmp_path):
    _two_files(tmp_path)
    out, err = Terminal(), io.StringIO()
    call_command("reimport", "--stream", "orders", "--sync", stdout=out, stderr=err)
    assert "reimport --sync" in err.getvalue() and "2/2" in err.getvalue()

    out, err = Terminal(), io.StringIO()
    call_command("reimport", "--stream", "orders", "--sync", "--json", stdout=out, stderr=err)
    data = json.loads(out.getvalue())
    assert data["selected"] == 2 and [o["status"] for o in data["imported"]] == ["imported", "imported"]
    assert err.getvalue().startswith("reimport --sync: 2/2 files (100%)")


@pytest.mark.django_db(transaction=True)
def test_reimport_enqueue_reports_progress(tmp_path, settings):
    _two_files(tmp_path)
    err = io.StringIO()
    call_command("reimport", "--stream", "orders", "--json", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().startswith("reimport (enqueue): 2/2 files (100%)")


@pytest.mark.django_db(transaction=True)
def test_import_file_reports_the_bytes_read(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": f"SO-{n}"}, order(f"SO-{n}")) for n in range(50)])
    size = path.stat().st_size
    out, err = io.StringIO(), io.StringIO()
    call_command("import_file", str(path), "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["counts"]["rows_created"] == 50
    assert err.getvalue().startswith(f"{path}: {size:,}/{size:,} B (100%)")

    out, err = io.StringIO(), io.StringIO()  # imported again: the same bar
    call_command("import_file", str(path), "--force", "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["counts"]["rows_stale"] == 50
    assert err.getvalue().startswith(f"{path}: {size:,}/{size:,} B (100%)")


@pytest.mark.django_db(transaction=True)
def test_redrive_json_with_nothing_to_redrive():
    out, err = io.StringIO(), io.StringIO()
    call_command("redrive", "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["passed"] == 0


@pytest.mark.django_db(transaction=True)
def test_reconcile_reports_the_snapshots_bytes_read(tmp_path):
    from ingest.testing.samples import order_event
    from ingest.testing.snapshots import full_line, header, write_snapshot

    lines = [full_line(order_event(f"SO-{n}", 1)) for n in range(40)]
    path = write_snapshot(tmp_path / "orders.jsonl.gz", header("orders", "2026-11-28T00:00:00Z"), lines)
    size = path.stat().st_size
    out, err = io.StringIO(), io.StringIO()
    call_command("reconcile", str(path), "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["missing"] == 40
    assert err.getvalue().startswith(f"reconcile {path}: {size:,}/{size:,} B (100%)")

    out, err = Terminal(), io.StringIO()
    call_command("reconcile", str(path), stdout=out, stderr=err)
    assert f"reconcile {path}" in err.getvalue() and "100%" in err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_adopt_field_counts_the_rows_first_and_reports_them(tmp_path):
    from ingest.testing.contract import contract_change
    from ingest.testing.samples import order_event
    from tests.ingest.repair.test_adopt_field import add_discount_code, discount_column, run

    run(tmp_path, "orders", [order_event(f"SO-{n}", 1, discountCode=f"D{n}") for n in range(5)])
    with contract_change(add_discount_code, columns=discount_column()):
        err = io.StringIO()
        call_command("adopt_field", "orders", "discountCode", "--batch-size", "2", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().startswith("adopt_field orders discountCode: 5/5 rows (100%)")


@pytest.mark.django_db(transaction=True)
def test_prune_reports_the_rows_removed_against_a_dry_runs_count(tmp_path):
    from tests.ingest.admin.factories import imported_file, write_orders_file
    from tests.ingest.retention.test_prune import age

    for n in range(2):
        age(imported_file(write_orders_file(tmp_path, f"old{n}", seed=n + 1)), 100)
    err = io.StringIO()
    call_command("prune", "--older-than", "20d", stdout=io.StringIO(), stderr=err)
    line = err.getvalue().splitlines()[-1]
    total = int(line.split("/")[1].split()[0].replace(",", ""))
    assert line.startswith(f"prune: {total:,}/{total:,} rows (100%)") and total >= 2 and line.endswith("(done)")
