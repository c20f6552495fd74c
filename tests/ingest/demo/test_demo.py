"""``manage.py demo`` end to end, at a small size, in a subprocess with its own SQLite file: the
summary it prints must agree with the database it leaves behind."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password

from ingest.local.auth import signed_headers
from ingest.models import ImportFile, ImportLineError
from ingest.testing.utilities import free_port
from website.models import MODELS_BY_STREAM

ROOT = Path(__file__).resolve().parents[3]

# Each test runs the whole demo in a subprocess.
pytestmark = pytest.mark.slow


def demo_env(database: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        # The demo brings its own AWS, broker and queue: nothing of the caller's may leak in.
        if not name.startswith(("AWS_", "CELERY_", "INGEST_", "DJANGO_", "SQLITE_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{database}"
    return env


def run_demo(database: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "demo", *args],
        cwd=ROOT,
        env=demo_env(database),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_summary_matches_the_database(tmp_path):
    database = tmp_path / "demo.sqlite3"
    result = run_demo(database, "--events", "200", "--json", "--password", "demo-pass-123")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)  # stdout holds the JSON only; progress went to stderr
    assert "sent 200/200" in result.stderr

    assert summary["ok"] is True
    assert summary["timed_out"] is False
    assert summary["events_sent"] == summary["events_generated"] == 200
    assert summary["events_accepted"] + summary["events_rejected"] == 200
    assert summary["events_rejected"] >= 1  # the generator's invalid events, answered 400
    assert summary["http_errors"] == 0
    # The rejected events pushed past the API end in the error output, not nowhere; so do the
    # estimates that transform release v0 rejects, until the redrive step loads them.
    redrive = summary["redrive"]
    assert summary["records_injected_past_api"] == summary["events_rejected"]
    assert redrive["records_passed"] >= 1
    assert summary["records_failed"] == summary["events_rejected"] + redrive["records_passed"]
    assert redrive["records_rejected"] == summary["records_failed"]
    assert redrive["records_still_failing"] == summary["events_rejected"]
    assert redrive["redrive_files_imported"] == redrive["redrive_files"] == 1
    assert summary["error_files_landed"] >= 1
    assert summary["failed_records_notifications"] == redrive["error_files_registered"] == summary["error_files_landed"]
    # Accepted: delivered, dropped by the transform, redriven, or lost at the edge (the reconciliation stage).
    reconciliation = summary["reconciliation"]
    assert (
        summary["records_delivered"]
        + summary["records_dropped"]
        + redrive["records_passed"]
        + reconciliation["calls_lost"]
        == summary["events_accepted"]
    )
    assert reconciliation["calls_lost"] >= 1 and reconciliation["records_mangled"] >= 1
    assert reconciliation["found_expected"] is True, reconciliation["unexpected"]
    assert reconciliation["snapshots"] == 9
    assert summary["fold_checked"] is True
    assert summary["fold_matches"] is True, summary["fold_differences"]
    assert summary["lag_seconds"]["p50"] is not None
    assert summary["lag_seconds"]["p95"] >= summary["lag_seconds"]["p50"]

    with sqlite3.connect(database) as db:

        def count(table: str, where: str = "") -> int:
            return db.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0]

        for model in MODELS_BY_STREAM.values():
            table = model._meta.db_table
            assert count(table) == summary["rows"][model.__name__] > 0, model.__name__
            assert count(table, "WHERE is_placeholder") == summary["placeholders"][model.__name__]
            assert count(table, "WHERE is_deleted") == summary["deleted"][model.__name__]
        files = ImportFile._meta.db_table
        assert (
            count(files, "WHERE registered_by NOT IN ('redrive', 'reconcile')")
            == summary["files_registered"]
            == summary["files_landed"]
        )
        assert count(files, "WHERE registered_by = 'redrive' AND status = 'imported'") == redrive["redrive_files"]
        assert count("ingest_failedrecord", "WHERE status = 'rejected'") == redrive["records_still_failing"]
        assert count("ingest_failedrecord", "WHERE status = 'redriven'") == redrive["records_passed"]
        assert (
            count(files, "WHERE status = 'imported' AND registered_by NOT IN ('redrive', 'reconcile')")
            == summary["files_imported"]
        )
        assert summary["files_imported"] + summary["files_imported_with_errors"] == summary["files_landed"]
        assert count(ImportLineError._meta.db_table) == summary["line_errors"]
        (password, is_superuser) = db.execute(
            "SELECT password, is_superuser FROM auth_user WHERE username = 'demo'"
        ).fetchone()
    assert is_superuser
    assert check_password("demo-pass-123", password)
    assert summary["admin_username"] == "demo"
    assert summary["admin_password"] == "demo-pass-123"


def test_demo_prints_a_readable_summary(tmp_path):
    result = run_demo(tmp_path / "demo.sqlite3", "--events", "60", "--invalid-fraction", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sent 60/60" in out
    assert "Demo finished" in out
    assert "rows per model" in out
    for model in MODELS_BY_STREAM.values():
        assert model.__name__ in out
    assert "matches the fold of the events" in out
    assert "python manage.py runserver" in out
    assert "http://127.0.0.1:8000/admin/" in out


def test_demo_keep_serves_the_live_pipeline(tmp_path):
    """``--keep``: after the summary the API and the admin stay up; an event POSTed then lands in
    the database through the whole pipeline; SIGINT stops everything cleanly."""
    port = free_port()
    database = tmp_path / "demo.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--events", "30", "--keep", "--port", str(port)],
        cwd=ROOT,
        env=demo_env(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout
    assert stdout is not None

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        output: list[str] = []
        deadline = time.monotonic() + 120
        while not any("Still running" in line for line in output):
            assert time.monotonic() < deadline, "".join(output)
            assert process.poll() is None, "".join(output)
            with contextlib.suppress(queue.Empty):
                output.append(lines.get(timeout=1))

        event = {
            "eventId": str(uuid.uuid4()),
            "stream": "customers",
            "eventType": "upsert",
            "occurredAt": "2026-11-27T10:15:30.123Z",
            "version": 7,
            "key": {"customerNumber": "C-LIVE"},
            "data": {
                "customerNumber": "C-LIVE",
                "name": "Live, Inc.",
                "status": "ACTIVE",
                "currency": "USD",
                "billingAddress": {"line1": "1 Main St", "city": "Boston", "countryCode": "US"},
            },
        }
        body = json.dumps(event).encode()
        # No Content-Type at all (http.client adds none): read as JSON, as API Gateway does.
        headers = signed_headers(body, "local-development-secret")
        for expected in (200, 403):  # the second time it is a replay
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("POST", "/v1/customers", body=body, headers=headers)
                response = conn.getresponse()
                payload = json.loads(response.read())
            finally:
                conn.close()
            assert response.status == expected, payload
        assert payload["message"].startswith("replayed request")

        deadline = time.monotonic() + 30
        row = None
        while row is None and time.monotonic() < deadline:
            time.sleep(0.5)
            with sqlite3.connect(database) as db:
                row = db.execute(
                    "SELECT name, source_version FROM website_customer WHERE customer_number = 'C-LIVE'"
                ).fetchone()
        assert row == ("Live, Inc.", 7)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert returncode == 0
