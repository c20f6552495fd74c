"""The Prometheus endpoint: off unless enabled, protected, and counting what the workers did,
also across processes (multiprocess mode, as under gunicorn and Celery prefork)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from ingest.models import FailedRecord
from ingest.models.failed_records import ErrorOutputFile
from ingest.services.observing.prometheus import exposition
from ingest.testing.imports import import_events
from ingest.testing.samples import orders_at

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "s3cret-metrics-token"


@pytest.fixture
def enabled(settings):
    settings.INGEST_METRICS_ENABLED = True
    settings.INGEST_METRICS_TOKEN = TOKEN


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_off_unless_enabled(client, settings):
    settings.INGEST_METRICS_ENABLED = False
    assert client.get("/metrics").status_code == 404


def test_a_token_or_a_staff_login(client, enabled, django_user_model):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert b"ingest_files_pending" in response.content

    plain = django_user_model.objects.create_user("plain", password="pw")
    client.force_login(plain)
    assert client.get("/metrics").status_code == 401
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_an_import_is_counted(client, enabled, tmp_path):
    before_files = sample("ingest_files_total", stream="orders", status="imported")
    before_created = sample("ingest_rows_total", stream="orders", outcome="created")
    before_events = sample("ingest_event_lag_seconds_count", stream="orders")
    before_fast = sample("ingest_event_lag_seconds_bucket", stream="orders", le="60.0")
    import_events(orders_at([timezone.now()] * 4, run="m"), tmp_path, "m")
    assert sample("ingest_files_total", stream="orders", status="imported") == before_files + 1
    assert sample("ingest_rows_total", stream="orders", outcome="created") == before_created + 4
    assert sample("ingest_event_lag_seconds_count", stream="orders") == before_events + 4
    assert sample("ingest_event_lag_seconds_bucket", stream="orders", le="60.0") == before_fast + 4

    error_file = ErrorOutputFile.objects.create(bucket="b", key="errors/orders/processing-failed/x", stream="orders")
    FailedRecord.objects.create(error_file=error_file, line_number=1, stream="orders", reason="bad")
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    assert 'ingest_rejected_records{stream="orders"} 1.0' in text
    assert 'ingest_files_pending{stream="orders"} 0.0' in text
    assert 'ingest_newest_event_age_seconds{stream="orders"}' in text
    assert "ingest_import_duration_seconds_bucket" in text and "ingest_lag_seconds_bucket" in text
    assert "ingest_change_notifications_undelivered 0.0" in text


def _child(code: str, multiproc_dir: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "DJANGO_SETTINGS_MODULE": "website.settings"}
    setup = "import django; django.setup(); from ingest.services.observing import prometheus as p; "
    subprocess.run([sys.executable, "-c", setup + code], cwd=ROOT, env=env, check=True, timeout=120)


@pytest.mark.slow
def test_multiprocess_mode_sums_every_process(tmp_path, monkeypatch):
    # Two "worker children" count imports into the shared directory, then exit.
    for n in (2, 3):
        _child(f"p.observe_import('orders', 'imported', {{'rows_created': {n}}}, 0.2, 1.5, {{4: {n}}}, 4.0)", tmp_path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = exposition()[0].decode()
    assert 'ingest_files_total{status="imported",stream="orders"} 2.0' in text
    assert 'ingest_rows_total{outcome="created",stream="orders"} 5.0' in text
    assert 'ingest_event_lag_seconds_bucket{le="2.5",stream="orders"} 5.0' in text
    assert 'ingest_event_lag_seconds_sum{stream="orders"} 8.0' in text


@pytest.mark.slow
def test_production_refuses_metrics_without_a_token():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),  # production refuses a weak key first
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": "postgres://u@127.0.0.1:1/none",
        "INGEST_BUCKET": "b",
        "INGEST_QUEUE_URL": "https://sqs.example/q",
        "INGEST_API_SECRET": "s",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "INGEST_METRICS_ENABLED": "true",
        "INGEST_METRICS_TOKEN": "",
        "DJANGO_SETTINGS_MODULE": "website.settings",
    }
    code = "import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert result.returncode != 0
    assert b"INGEST_METRICS_TOKEN must be set" in result.stderr
    env["INGEST_METRICS_TOKEN"] = secrets.token_urlsafe(32)  # production refuses a short one
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=120).returncode == 0
