"""Reconciliation against System Two's snapshots: every category, line errors, repairs through the
version guard, versions-only and partial snapshots, the resend list, and ``manage.py reconcile``."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ingest.models import ImportFile
from ingest.models.reconciliation import ReconciliationDrift, ReconciliationLineError, ReconciliationRun, Resolution
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.repair.reconcile import Requested, SnapshotError, reconcile
from ingest.testing.samples import order_event, order_line_event, write_files
from ingest.testing.snapshots import full_line, header, versions_line, write_snapshot
from website.models import Estimate, Order, OrderLine

pytestmark = pytest.mark.django_db(transaction=True)

TAKEN = "2026-11-28T00:00:00Z"
COUNT_KEYS = (
    "in_sync",
    "missing",
    "behind",
    "ahead",
    "differs",
    "only_on_website",
    "line_errors",
    "repaired",
    "content_repaired",
    "deletes_applied",
)


def load(events: list[dict], folder: Path) -> None:
    """The events into the website, through the importer."""
    for path in write_files(events, folder, per_file=1000):
        f, _ = register_local_file(path)
        assert import_file(f.pk, trigger="test").status == "imported"


def delete_event(event: dict, version: int, occurred: str = "2026-11-27T11:00:00Z") -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": event["stream"],
        "eventType": "delete",
        "occurredAt": occurred,
        "version": version,
        "key": event["key"],
    }


def run_command(path: Path, *flags: str, capsys) -> dict:
    call_command("reconcile", str(path), "--json", *flags)
    return json.loads(capsys.readouterr().out)


def orders(**numbers) -> dict:
    return {
        n: (row.source_version, row.is_deleted, row.total)
        for n, row in ((o.order_number, o) for o in Order.objects.all())
    }


@pytest.fixture
def website(tmp_path) -> dict:
    """Orders on the website: SO-SYNC v2, SO-BEHIND v1, SO-AHEAD v3, SO-DIFF v2 (total 11.70),
    SO-GONE v1 (deleted on the website, live in System Two), SO-ONLY v1 (only here), SO-LATE v1
    (only here, but changed after takenAt), SO-DEL v1 (deleted here, not in the snapshot)."""
    events = [
        order_event("SO-SYNC", 2),
        order_event("SO-BEHIND", 1),
        order_event("SO-AHEAD", 3),
        order_event("SO-DIFF", 2),
        order_event("SO-GONE", 1),
        order_event("SO-ONLY", 1),
        order_event("SO-LATE", 1),
        order_event("SO-DEL", 1),
    ]
    events[6]["occurredAt"] = "2026-11-29T00:00:00Z"
    events.append(delete_event(events[4], 2))
    events.append(delete_event(events[7], 2))
    # SO-PH exists only as a placeholder: an order line names it.
    events.append(order_line_event("SO-PH", 1))
    load(events, tmp_path / "in")
    return {e["key"]["orderNumber"]: e for e in events if e["stream"] == "orders"}


def snapshot_lines() -> list[dict]:
    diff = order_event("SO-DIFF", 2, total="99.00")
    return [
        full_line(order_event("SO-SYNC", 2, subtotal="10.0")),  # the same money, spelt otherwise
        full_line(order_event("SO-BEHIND", 2, total="20.00")),
        full_line(order_event("SO-AHEAD", 2)),
        full_line(diff),
        full_line(order_event("SO-GONE", 2)),  # same version, live in System Two, deleted here
        full_line(order_event("SO-NEW", 1, total="30.00")),
        full_line(order_event("SO-PH", 4, total="40.00")),
        full_line(delete_event(order_event("SO-NEWDEL"), 3)),
    ]


EXPECTED_FOUND = {
    "in_sync": 1,
    "missing": 3,  # SO-NEW, SO-PH (placeholder), SO-NEWDEL
    "behind": 1,
    "ahead": 1,
    "differs": 2,  # SO-DIFF (data), SO-GONE (deleted state)
    "only_on_website": 1,  # SO-ONLY (SO-LATE changed after takenAt, SO-DEL is deleted)
    "line_errors": 0,
}


def test_every_category_is_found_and_reported_without_changing_anything(website, tmp_path, capsys):
    path = write_snapshot(tmp_path / "orders.jsonl", header("orders", TAKEN), snapshot_lines())
    before = orders()
    out = run_command(path, capsys=capsys)
    assert set(out) == {*COUNT_KEYS, "stream", "run_id"}
    assert out == {**EXPECTED_FOUND, "repaired": 0, "content_repaired": 0, "deletes_applied": 0, "stream": "orders"} | {
        "run_id": out["run_id"]
    }
    assert orders() == before
    run = ReconciliationRun.objects.get(pk=out["run_id"])
    assert (run.status, run.stream, run.complete, run.rows_kind, run.lines_total) == ("done", "orders", True, "full", 8)
    drift = {
        json.loads(d.key_json)["orderNumber"]: (d.category, d.website_version, d.snapshot_version)
        for d in run.drift.all()
    }
    assert drift == {
        "SO-BEHIND": ("behind", 1, 2),
        "SO-AHEAD": ("ahead", 3, 2),
        "SO-DIFF": ("differs", 2, 2),
        "SO-GONE": ("differs", 2, 2),
        "SO-NEW": ("missing", None, 1),
        "SO-PH": ("missing", None, 4),
        "SO-NEWDEL": ("missing", None, 3),
        "SO-ONLY": ("only_on_website", 1, None),
    }
    diff = run.drift.get(category="differs", key_json__contains="SO-DIFF")
    assert diff.website_occurred_at is not None and diff.snapshot_occurred_at is not None
    assert diff.website_deleted is False and diff.snapshot_deleted is False


def test_apply_all_three_repairs_through_the_version_guard(website, tmp_path, capsys):
    path = write_snapshot(tmp_path / "orders.jsonl.gz", header("orders", TAKEN), snapshot_lines())
    out = run_command(path, "--apply", "--apply-content", "--apply-deletes", capsys=capsys)
    # The counts are those found before the run repaired anything.
    assert {k: out[k] for k in EXPECTED_FOUND} == EXPECTED_FOUND
    assert (out["repaired"], out["content_repaired"], out["deletes_applied"]) == (4, 2, 1)
    rows = {o.order_number: o for o in Order.objects.all()}
    assert (rows["SO-BEHIND"].source_version, str(rows["SO-BEHIND"].total)) == (2, "20.0000")
    assert rows["SO-AHEAD"].source_version == 3  # ahead: never touched
    assert (rows["SO-DIFF"].source_version, str(rows["SO-DIFF"].total)) == (2, "99.0000")
    assert (rows["SO-GONE"].source_version, rows["SO-GONE"].is_deleted) == (2, False)
    assert (rows["SO-NEW"].source_version, str(rows["SO-NEW"].total)) == (1, "30.0000")
    assert (rows["SO-PH"].is_placeholder, rows["SO-PH"].source_version) == (False, 4)
    newdel = rows["SO-NEWDEL"]  # a delete line for a missing key: the deleted row with only its key
    assert (newdel.is_deleted, newdel.is_placeholder, newdel.source_version, newdel.total) == (True, False, 3, None)
    only = rows["SO-ONLY"]
    assert (only.is_deleted, only.source_version, str(only.total)) == (True, 1, "11.7000")  # version unchanged
    assert rows["SO-LATE"].is_deleted is False
    # Lineage: the repaired rows' last import is the run's own ImportFile.
    run = ReconciliationRun.objects.get(pk=out["run_id"])
    assert run.lineage is not None and run.lineage.registered_by == "reconcile"
    for number in ("SO-BEHIND", "SO-DIFF", "SO-GONE", "SO-NEW", "SO-PH", "SO-NEWDEL", "SO-ONLY"):
        assert rows[number].last_import_id == run.lineage_id, number
    assert rows["SO-SYNC"].last_import_id != run.lineage_id
    assert set(run.drift.values_list("resolution", flat=True).exclude(category="ahead")) == {Resolution.REPAIRED}
    # The same snapshot again: everything in sync but the ahead key; nothing to repair.
    again = run_command(path, "--apply", "--apply-content", "--apply-deletes", capsys=capsys)
    assert {k: again[k] for k in COUNT_KEYS} == {
        **dict.fromkeys(COUNT_KEYS, 0),
        "in_sync": 7,
        "ahead": 1,
    }


def test_the_delete_of_an_only_on_website_row_is_undone_by_a_later_version(website, tmp_path, capsys):
    path = write_snapshot(tmp_path / "orders.jsonl", header("orders", TAKEN), snapshot_lines())
    run_command(path, "--apply-deletes", capsys=capsys)
    assert Order.objects.get(order_number="SO-ONLY").is_deleted
    load([order_event("SO-ONLY", 2)], tmp_path / "later")
    row = Order.objects.get(order_number="SO-ONLY")
    assert (row.is_deleted, row.source_version) == (False, 2)


def test_dry_run_reports_what_the_run_would_repair_and_changes_nothing(website, tmp_path, capsys):
    path = write_snapshot(tmp_path / "orders.jsonl", header("orders", TAKEN), snapshot_lines())
    before = orders()
    out = run_command(path, "--apply", "--apply-content", "--apply-deletes", "--dry-run", capsys=capsys)
    assert (out["repaired"], out["content_repaired"], out["deletes_applied"], out["run_id"]) == (4, 2, 1, None)
    assert {k: out[k] for k in EXPECTED_FOUND} == EXPECTED_FOUND
    assert orders() == before
    assert not ReconciliationRun.objects.exists() and not ReconciliationDrift.objects.exists()
    assert not ImportFile.objects.filter(registered_by="reconcile").exists()


def test_resend_file_lists_the_keys_a_run_left_unrepaired(website, tmp_path, capsys):
    path = write_snapshot(tmp_path / "orders.jsonl", header("orders", TAKEN), snapshot_lines())
    resend = tmp_path / "resend.jsonl"
    run_command(path, "--resend-file", str(resend), capsys=capsys)
    rows = [json.loads(line) for line in resend.read_text().splitlines()]
    assert sorted((r["key"]["orderNumber"], r["reason"]) for r in rows) == [
        ("SO-BEHIND", "behind"),
        ("SO-DIFF", "differs"),
        ("SO-GONE", "differs"),
        ("SO-NEW", "missing"),
        ("SO-NEWDEL", "missing"),
        ("SO-PH", "missing"),
    ]
    assert {r["stream"] for r in rows} == {"orders"} and all(set(r) == {"stream", "key", "reason"} for r in rows)
    run_command(path, "--apply", "--resend-file", str(resend), capsys=capsys)
    rows = [json.loads(line) for line in resend.read_text().splitlines()]
    assert sorted((r["key"]["orderNumber"], r["reason"]) for r in rows) == [
        ("SO-DIFF", "differs"),
        ("SO-GONE", "differs"),
    ]


def test_partial_snapshot_compares_only_its_keys(website, tmp_path, capsys):
    path = write_snapshot(tmp_path / "o.jsonl", header("orders", TAKEN, complete=False), snapshot_lines()[:2])
    out = run_command(path, capsys=capsys)
    assert (out["in_sync"], out["behind"], out["only_on_website"], out["missing"]) == (1, 1, 0, 0)


def test_versions_snapshot_compares_and_cannot_repair(website, tmp_path, capsys):
    lines = [versions_line(e) for e in snapshot_lines()]
    path = write_snapshot(tmp_path / "v.jsonl", header("orders", TAKEN, rows="versions"), lines)
    before = orders()
    resend = tmp_path / "resend.jsonl"
    out = run_command(
        path, "--apply", "--apply-content", "--apply-deletes", "--resend-file", str(resend), capsys=capsys
    )
    # SO-DIFF is in sync by versions (its data is not compared); SO-GONE's deleted state differs.
    assert {k: out[k] for k in EXPECTED_FOUND} == {**EXPECTED_FOUND, "in_sync": 2, "differs": 1}
    assert (out["repaired"], out["content_repaired"], out["deletes_applied"]) == (0, 0, 0)
    rows = sorted(
        (json.loads(x)["key"]["orderNumber"], json.loads(x)["reason"]) for x in resend.read_text().splitlines()
    )
    assert rows == [
        ("SO-BEHIND", "behind"),
        ("SO-GONE", "differs"),
        ("SO-NEW", "missing"),
        ("SO-NEWDEL", "missing"),
        ("SO-PH", "missing"),
    ]
    assert orders() == before


def test_bad_lines_and_duplicated_keys_are_line_errors_and_the_rest_is_compared(website, tmp_path, capsys):
    bad_status = full_line(order_event("SO-X", 1))
    bad_status["data"]["status"] = "LOST"
    mismatched = full_line(order_event("SO-Y", 1))
    mismatched["key"]["orderNumber"] = "SO-Z"
    lines = [
        full_line(order_event("SO-SYNC", 2)),
        "{not json",
        bad_status,
        mismatched,
        {"snapshot": "again"},
        full_line(order_event("SO-SYNC", 3)),  # a second line of a key already seen: an error
        full_line(order_event("SO-BEHIND", 2)),
        full_line(order_event("SO-BEHIND", 2)),
    ]
    path = write_snapshot(tmp_path / "o.jsonl", header("orders", TAKEN, complete=False), lines)
    out = run_command(path, "--apply", capsys=capsys)
    assert (out["line_errors"], out["in_sync"], out["behind"], out["repaired"]) == (6, 1, 1, 1)
    errors = list(ReconciliationLineError.objects.order_by("line_number").values_list("line_number", "message"))
    assert [n for n, _m in errors] == [3, 4, 5, 6, 7, 9]
    assert "second line of the key" in errors[4][1] and "second line" in errors[5][1]
    assert "status" in errors[1][1]
    assert Order.objects.get(order_number="SO-SYNC").source_version == 2  # the first line counts


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
def test_chunks_of_any_size_find_the_same_drift_and_duplicates(website, tmp_path, monkeypatch, capsys, chunk_rows):
    """A big snapshot is compared chunk by chunk: the staging table emptied between chunks, the keys
    seen kept across them (and analysed as they grow): the counts are those of one chunk."""
    from ingest.services.repair.reconcile import compare, run

    monkeypatch.setattr(run, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(compare, "SEEN_FIRST_ANALYZE", 2)
    lines = snapshot_lines()
    lines.insert(5, full_line(order_event("SO-BEHIND", 3)))  # a second line of a key, chunks later
    path = write_snapshot(tmp_path / "orders.jsonl", header("orders", TAKEN), lines)
    out = run_command(path, capsys=capsys)
    assert {k: out[k] for k in EXPECTED_FOUND} == {**EXPECTED_FOUND, "line_errors": 1}
    [error] = ReconciliationLineError.objects.values_list("line_number", "message")
    assert error[0] == 7 and "second line of the key" in error[1]


@pytest.mark.parametrize(
    "bad",
    [
        {"key": {"orderNumber": "SO-1", "extra": 1}, "version": 1, "occurredAt": TAKEN, "deleted": False},
        {"key": {}, "version": 1, "occurredAt": TAKEN, "deleted": False},
        {"key": {"orderNumber": "SO-1"}, "version": 0, "occurredAt": TAKEN, "deleted": False},
        {"key": {"orderNumber": "SO-1"}, "version": "2", "occurredAt": TAKEN, "deleted": False},
        {"key": {"orderNumber": "SO-1"}, "version": True, "occurredAt": TAKEN, "deleted": False},
        {"key": {"orderNumber": "SO-1"}, "version": 1, "occurredAt": "yesterday", "deleted": False},
        {"key": {"orderNumber": "SO-1"}, "version": 1, "occurredAt": TAKEN, "deleted": "no"},
        {"key": {"orderNumber": "SO-1"}, "version": 1, "occurredAt": TAKEN},
    ],
)
def test_invalid_versions_lines(bad, tmp_path, capsys):
    good = {"key": {"orderNumber": "SO-2"}, "version": 1, "occurredAt": TAKEN, "deleted": False}
    path = write_snapshot(tmp_path / "v.jsonl", header("orders", TAKEN, rows="versions"), [bad, good])
    out = run_command(path, capsys=capsys)
    assert (out["line_errors"], out["missing"]) == (1, 1)


@pytest.mark.parametrize(
    "first_line",
    [
        "not json",
        json.dumps({"snapshot": {"stream": "nope", "takenAt": TAKEN, "complete": True, "rows": "full"}}),
        json.dumps({"snapshot": {"stream": "orders", "takenAt": "noon", "complete": True, "rows": "full"}}),
        json.dumps({"snapshot": {"stream": "orders", "takenAt": TAKEN, "complete": "yes", "rows": "full"}}),
        json.dumps({"snapshot": {"stream": "orders", "takenAt": TAKEN, "complete": True, "rows": "all"}}),
        json.dumps({"stream": "orders"}),
        "",
    ],
)
def test_a_bad_header_is_a_clear_error_and_changes_nothing(first_line, website, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(first_line + "\n" + json.dumps(full_line(order_event("SO-NEW", 1))) + "\n")
    before = orders()
    with pytest.raises(CommandError, match=r"bad\.jsonl"):
        call_command("reconcile", str(path), "--apply")
    assert orders() == before and not ReconciliationRun.objects.exists()


def test_an_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("reconcile", str(tmp_path / "nowhere.jsonl"))
    corrupt = tmp_path / "c.jsonl.gz"
    corrupt.write_bytes(gzip.compress(b'{"snapshot": {}}\n')[:10] + b"garbage" * 20)
    with pytest.raises(CommandError):
        call_command("reconcile", str(corrupt))
    assert not ReconciliationRun.objects.exists()


def test_a_gzip_corrupt_past_the_header_is_refused_whole_and_nothing_recorded(website, tmp_path):
    """Found by the fuzzer (tests/fuzz/test_snapshots.py): a GZIP's CRC is checked at the member's
    end, after the header and lines were read; ``CorruptSource`` escaped ``reconcile`` (not its
    documented ``SnapshotError``) and left a failed run with the lines compared before it."""
    lines = [header("orders", TAKEN), full_line(order_event("SO-NEW", 1)), "not json"]
    packed = bytearray(gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in lines)))
    packed[-8] ^= 0xFF  # the CRC
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(packed))
    before = orders()
    with pytest.raises(SnapshotError, match="corrupt"):
        reconcile(str(path), Requested(apply=True))
    assert orders() == before and not ReconciliationRun.objects.exists()
    assert not ReconciliationDrift.objects.exists() and not ReconciliationLineError.objects.exists()
    with pytest.raises(CommandError, match="corrupt"):
        call_command("reconcile", str(path))
    # A registered run (from a notification) is marked failed, with nothing of the comparison.
    run = ReconciliationRun.objects.create(stream="orders", source=str(path), key=str(path), trigger="notification")
    with pytest.raises(SnapshotError):
        reconcile(str(path), run=run)
    run.refresh_from_db()
    assert run.status == "failed" and "corrupt" in run.error_message and run.in_sync == run.missing == 0
    assert not ReconciliationDrift.objects.exists() and not ReconciliationLineError.objects.exists()


def test_data_is_compared_as_the_tables_hold_it(tmp_path, capsys):
    line = order_line_event("SO-1", 1)
    load([line], tmp_path / "in")
    same = full_line(line, fresh_id=True)  # a fresh eventId is not content
    same["data"]["unitPrice"] = "5.0"
    same["data"]["extra"] = {"unknown": "fields are not content either"}
    path = write_snapshot(tmp_path / "a.jsonl", header("order-lines", TAKEN), [same])
    assert run_command(path, capsys=capsys)["in_sync"] == 1
    colours = full_line(line)
    colours["data"]["imprintColors"] = ["GOLD", "SILVER"]
    path = write_snapshot(tmp_path / "b.jsonl", header("order-lines", TAKEN), [colours])
    out = run_command(path, "--apply-content", capsys=capsys)
    assert (out["differs"], out["content_repaired"]) == (1, 1)
    assert OrderLine.objects.get().imprint_colors == ["GOLD", "SILVER"]


def estimate_event(number: str, version: int, quote: str, occurred: str, order: str = "SO-1") -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "stream": "estimates",
        "eventType": "upsert",
        "occurredAt": occurred,
        "version": version,
        "key": {"estimateNumber": number},
        "data": {
            "estimateNumber": number,
            "orderNumber": order,
            "customerNumber": "C-1",
            "quoteNumber": quote,
            "quoteVersion": version,
            "status": "SENT",
            "total": "10.00",
        },
    }


def test_repairs_keep_the_estimate_to_order_quote_rule(tmp_path, capsys):
    old = estimate_event("E-1", 1, "Q-OLD", "2026-11-27T09:00:00Z")
    new = estimate_event("E-2", 1, "Q-NEW", "2026-11-27T10:00:00Z")
    load([order_event("SO-1", 1), old, new], tmp_path / "in")
    assert Order.objects.get().quote_number == "Q-NEW"
    # System Two never had E-2 (only on the website), and E-1 holds another quote at its version.
    changed = estimate_event("E-1", 1, "Q-FIXED", "2026-11-27T09:00:00Z")
    path = write_snapshot(tmp_path / "e.jsonl", header("estimates", TAKEN), [full_line(changed)])
    out = run_command(path, "--apply-content", "--apply-deletes", capsys=capsys)
    assert (out["differs"], out["only_on_website"], out["content_repaired"], out["deletes_applied"]) == (1, 1, 1, 1)
    assert Estimate.objects.get(estimate_number="E-2").is_deleted
    assert (Order.objects.get().quote_number, Order.objects.get().quote_version) == ("Q-FIXED", 1)


def test_a_newer_version_that_arrived_before_the_repair_stays(website, tmp_path, monkeypatch, capsys):
    """The repair runs after the comparison: versions imported in between are never overwritten."""
    from ingest.services.repair.reconcile import run as run_module

    real_repair = run_module.repair

    def imports_meanwhile(run, requested):
        load(
            [
                order_event("SO-BEHIND", 5, total="55.00"),
                order_event("SO-DIFF", 3, total="33.00"),
                order_event("SO-ONLY", 2),
                order_event("SO-NEW", 2, total="22.00"),
            ],
            tmp_path / "meanwhile",
        )
        return real_repair(run, requested)

    monkeypatch.setattr(run_module, "repair", imports_meanwhile)
    path = write_snapshot(tmp_path / "o.jsonl", header("orders", TAKEN), snapshot_lines())
    out = run_command(path, "--apply", "--apply-content", "--apply-deletes", capsys=capsys)
    assert (out["behind"], out["repaired"], out["content_repaired"], out["deletes_applied"]) == (1, 2, 1, 0)
    rows = {o.order_number: o for o in Order.objects.all()}
    assert (rows["SO-BEHIND"].source_version, str(rows["SO-BEHIND"].total)) == (5, "55.0000")
    assert (rows["SO-DIFF"].source_version, str(rows["SO-DIFF"].total)) == (3, "33.0000")
    assert (rows["SO-ONLY"].source_version, rows["SO-ONLY"].is_deleted) == (2, False)
    assert (rows["SO-NEW"].source_version, str(rows["SO-NEW"].total)) == (2, "22.0000")
    superseded = ReconciliationDrift.objects.filter(resolution=Resolution.SUPERSEDED)
    assert sorted(json.loads(k)["orderNumber"] for k in superseded.values_list("key_json", flat=True)) == [
        "SO-BEHIND",
        "SO-DIFF",
        "SO-NEW",
        "SO-ONLY",
    ]


def test_service_reports_without_a_command(website, tmp_path):
    path = write_snapshot(tmp_path / "o.jsonl", header("orders", TAKEN), snapshot_lines())
    report = reconcile(str(path), Requested(apply=True))
    assert report.counts["missing"] == 3 and report.counts["repaired"] == 4


@pytest.mark.postgres
def test_a_snapshot_racing_newer_events_on_postgres_leaves_the_newer_ones(website, tmp_path):
    """An import holds newer versions of drifting keys, uncommitted, while the repair runs: the repair
    waits for its row locks (no table lock: it never waits for anything else), then the version
    guard keeps the newer versions."""
    import threading

    from django.db import connection, connections, transaction

    from ingest.services.importing.parsing import LineParser
    from ingest.services.loading import apply_batch
    from ingest.testing.utilities import wait_until
    from transforms.streams import STREAMS
    from transforms.system_one.writer import write_record

    spec = STREAMS["orders"]
    parser = LineParser(spec)
    newer = [
        order_event("SO-BEHIND", 5, total="55.00"),
        order_event("SO-DIFF", 3, total="33.00"),
        order_event("SO-ONLY", 2),
        order_event("SO-NEW", 2, total="22.00"),
    ]
    events = [parser.parse(write_record(e).rstrip("\n").encode(), n) for n, e in enumerate(newer, 1)]
    holding, release = threading.Event(), threading.Event()

    def importer() -> None:
        try:
            with transaction.atomic():
                apply_batch(events, spec, None)
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    outcome: list = []

    def reconciler() -> None:
        try:
            path = write_snapshot(tmp_path / "o.jsonl", header("orders", TAKEN), snapshot_lines())
            outcome.append(reconcile(str(path), Requested(apply=True, apply_content=True, apply_deletes=True)))
        except Exception as exc:  # handed to the test
            outcome.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=importer)
    holder.start()
    assert holding.wait(10)
    worker = threading.Thread(target=reconciler)
    worker.start()

    def repair_waits() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0] > 0

    try:
        wait_until(repair_waits, timeout=30, what="the repair to wait for the import's row locks")
    finally:
        release.set()
        holder.join(30)
        worker.join(60)
    report = outcome[0]
    assert not isinstance(report, Exception), report
    assert (report.counts["behind"], report.counts["missing"], report.counts["only_on_website"]) == (1, 3, 1)
    rows = {o.order_number: o for o in Order.objects.all()}
    assert (rows["SO-BEHIND"].source_version, str(rows["SO-BEHIND"].total)) == (5, "55.0000")
    assert (rows["SO-DIFF"].source_version, str(rows["SO-DIFF"].total)) == (3, "33.0000")
    assert (rows["SO-ONLY"].source_version, rows["SO-ONLY"].is_deleted) == (2, False)
    assert (rows["SO-NEW"].source_version, str(rows["SO-NEW"].total)) == (2, "22.0000")
    assert (rows["SO-GONE"].source_version, rows["SO-GONE"].is_deleted) == (2, False)  # repaired meanwhile
