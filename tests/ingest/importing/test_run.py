"""The importer service on single files: rows, counts, line errors, placeholders, quotes, sources."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from django.core.management import CommandError, call_command

from ingest.models import ImportAttempt, ImportFile, ImportLineError
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import S3Object, register_local_file, register_s3_object, stream_for_key
from ingest.testing.imports import register_and_import
from transforms.system_one.writer import write_record
from website.models import Customer, Estimate, Order, OrderLine

pytestmark = pytest.mark.django_db


def ev(stream: str, key: dict, data: dict | None, *, version: int = 1, at: str = "2026-11-27T10:00:00Z", **kw):
    event = {
        "eventId": kw.get("event_id", str(uuid.uuid4())),
        "stream": stream,
        "eventType": "delete" if data is None else "upsert",
        "occurredAt": at,
        "version": version,
        "key": key,
    }
    if data is not None:
        event["data"] = {**data, **key}
    return event


def order(number: str, customer: str = "C-1", **overrides) -> dict:
    data = {
        "customerNumber": customer,
        "orderDate": "2026-11-20",
        "status": "OPEN",
        "currency": "USD",
        "subtotal": "100.00",
        "tax": "7.0000",
        "shipping": "0",
        "total": "107",
        "poNumber": None,
        "rush": False,
    }
    data.update(overrides)
    return data


def line_data(**overrides) -> dict:
    data = {
        "sku": "JRN-1",
        "description": 'Linen | journal, "A5"\nwith\ttabs 📓',
        "quantity": 3,
        "unitPrice": "12.5",
        "extendedPrice": "37.5",
        "imprintColors": ["GOLD", "PMS 186"],
    }
    data.update(overrides)
    return data


def estimate(number: str, order_number: str | None, quote: str, qv: int) -> dict:
    return {
        "orderNumber": order_number,
        "customerNumber": "C-9",
        "quoteNumber": quote,
        "quoteVersion": qv,
        "status": "SENT",
        "total": "10",
    }


def write(tmp_path: Path, stream: str, events: list[dict], *, name: str = "f", gz: bool = True, raw: bytes = b""):
    path = tmp_path / stream / "2026" / "11" / "27" / "10" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(write_record(e) for e in events).encode() + raw
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def test_rows_and_counts(tmp_path):
    path = write(
        tmp_path,
        "orders",
        [ev("orders", {"orderNumber": "SO-1"}, order("SO-1")), ev("orders", {"orderNumber": "SO-2"}, order("SO-2"))],
    )
    f, _outcome = register_and_import(path)
    assert f.status == "imported"
    assert (f.lines_total, f.rows_created, f.rows_updated, f.placeholders_created) == (2, 2, 0, 1)
    o = Order.objects.get(order_number="SO-1")
    assert o.customer_id == "C-1" and o.total == Decimal("107") and o.tax == Decimal("7")
    assert o.last_import_id == f.pk and o.source_version == 1 and not o.is_placeholder
    assert Customer.objects.get(customer_number="C-1").is_placeholder
    assert f.finished_at is not None and f.lag_seconds is not None and f.duration_seconds is not None
    assert ImportAttempt.objects.get(import_file=f).rows_created == 2


def test_text_round_trips_exactly(tmp_path):
    path = write(tmp_path, "order-lines", [ev("order-lines", {"orderNumber": "SO-1", "lineNumber": 1}, line_data())])
    register_and_import(path)
    line = OrderLine.objects.get(order_id="SO-1", line_number=1)
    assert line.description == 'Linen | journal, "A5"\nwith\ttabs 📓'
    assert line.imprint_colors == ["GOLD", "PMS 186"]
    assert line.imprint_method is None
    assert Order.objects.get(order_number="SO-1").is_placeholder


def test_bad_lines_are_recorded_and_the_rest_imported(tmp_path):
    good1 = ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))
    good2 = ev("orders", {"orderNumber": "SO-2"}, order("SO-2"))
    bad_status = write_record(good1).replace("status=OPEN", "status=LOST")
    payload = (
        write_record(good1)
        + "this is not a record\n"
        + bad_status
        + write_record(ev("customers", {"customerNumber": "C-1"}, None))
    ).encode()
    payload += b"ORD|1|U|\xff\xfe broken utf-8\n" + write_record(good2).encode()
    path = tmp_path / "orders" / "x"
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    f, _ = register_and_import(path)
    assert f.status == "imported_with_errors"
    assert (f.lines_total, f.rows_created, f.errors_count) == (6, 2, 4)
    errors = list(ImportLineError.objects.filter(import_file=f).order_by("line_number"))
    assert [e.line_number for e in errors] == [2, 3, 4, 5]
    assert errors[0].raw_text == "this is not a record"
    assert "status" in errors[1].message and "LOST" in errors[1].raw_text
    assert "customers record" in errors[2].message
    assert "UTF-8" in errors[3].message and "\\xff\\xfe" in errors[3].raw_text
    assert set(Order.objects.values_list("order_number", flat=True)) == {"SO-1", "SO-2"}


def test_same_file_again_changes_nothing(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))])
    f, _ = register_and_import(path)
    before = list(Order.objects.values())
    ImportFile.objects.filter(pk=f.pk).update(status="pending")
    outcome = import_file(f.pk, trigger="reimport")
    assert outcome.counts["rows_stale"] == 1 and outcome.counts["rows_created"] == 0
    assert list(Order.objects.values()) == before
    assert ImportAttempt.objects.filter(import_file=f).count() == 2


def test_second_delivery_is_skipped(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))])
    f, _ = register_and_import(path)
    again = import_file(f.pk)
    assert again.skipped_reason == "already imported" and not again.ran


def test_versions_deletes_and_resurrection(tmp_path):
    k = {"orderNumber": "SO-1"}
    v2 = ev("orders", k, order("SO-1", status="SHIPPED"), version=2)
    v1 = ev("orders", k, order("SO-1", status="OPEN"), version=1)
    register_and_import(write(tmp_path, "orders", [v2], name="a"))
    f, _ = register_and_import(write(tmp_path, "orders", [v1], name="b"))
    assert f.rows_stale == 1
    assert Order.objects.get(order_number="SO-1").status == "SHIPPED"
    register_and_import(write(tmp_path, "orders", [ev("orders", k, None, version=3)], name="c"))
    row = Order.objects.get(order_number="SO-1")
    assert row.is_deleted and row.status == "SHIPPED", "a delete keeps the data"
    register_and_import(
        write(tmp_path, "orders", [ev("orders", k, order("SO-1", status="CLOSED"), version=4)], name="d")
    )
    row = Order.objects.get(order_number="SO-1")
    assert not row.is_deleted and row.status == "CLOSED" and row.source_version == 4


def test_equal_version_later_occurred_at_wins(tmp_path):
    k = {"orderNumber": "SO-1"}
    late = ev("orders", k, order("SO-1", status="CLOSED"), version=5, at="2026-11-27T12:00:00+02:00")
    early = ev("orders", k, order("SO-1", status="OPEN"), version=5, at="2026-11-27T09:59:59.999Z")
    register_and_import(write(tmp_path, "orders", [late], name="a"))
    register_and_import(write(tmp_path, "orders", [early], name="b"))
    assert Order.objects.get(order_number="SO-1").status == "CLOSED"


def test_first_event_delete_is_a_deleted_key_only_row(tmp_path):
    register_and_import(
        write(tmp_path, "order-lines", [ev("order-lines", {"orderNumber": "SO-9", "lineNumber": 2}, None)])
    )
    row = OrderLine.objects.get(order_id="SO-9", line_number=2)
    assert row.is_deleted and not row.is_placeholder and row.sku is None
    assert not Order.objects.filter(order_number="SO-9").exists(), "a delete refers to nothing"


def test_placeholder_is_filled_by_its_own_event(tmp_path):
    register_and_import(
        write(tmp_path, "order-lines", [ev("order-lines", {"orderNumber": "SO-1", "lineNumber": 1}, line_data())])
    )
    placeholder = Order.objects.get(order_number="SO-1")
    assert placeholder.is_placeholder and placeholder.status is None and placeholder.source_version is None
    f, _ = register_and_import(write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))]))
    assert f.rows_created == 1
    filled = Order.objects.get(order_number="SO-1")
    assert not filled.is_placeholder and filled.status == "OPEN"


def test_reference_moved_removes_orphan_placeholder(tmp_path):
    k = {"orderNumber": "SO-1"}
    register_and_import(write(tmp_path, "orders", [ev("orders", k, order("SO-1", customer="C-OLD"))], name="a"))
    assert Customer.objects.get(customer_number="C-OLD").is_placeholder
    register_and_import(
        write(tmp_path, "orders", [ev("orders", k, order("SO-1", customer="C-NEW"), version=2)], name="b")
    )
    assert not Customer.objects.filter(customer_number="C-OLD").exists()
    assert Customer.objects.get(customer_number="C-NEW").is_placeholder


def test_quote_from_latest_live_estimate(tmp_path):
    e1 = ev("estimates", {"estimateNumber": "E-1"}, estimate("E-1", "SO-1", "Q-1", 1), at="2026-11-27T10:00:00Z")
    e2 = ev("estimates", {"estimateNumber": "E-2"}, estimate("E-2", "SO-1", "Q-2", 3), at="2026-11-27T11:00:00Z")
    register_and_import(write(tmp_path, "estimates", [e1, e2], name="a"))
    o = Order.objects.get(order_number="SO-1")
    assert o.is_placeholder and (o.quote_number, o.quote_version) == ("Q-2", 3), "before the order arrives"
    register_and_import(write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))], name="b"))
    o.refresh_from_db()
    assert (o.quote_number, o.quote_version) == ("Q-2", 3), "the order's own event leaves the quote alone"
    register_and_import(
        write(tmp_path, "estimates", [ev("estimates", {"estimateNumber": "E-2"}, None, version=2)], name="c")
    )
    o.refresh_from_db()
    assert (o.quote_number, o.quote_version) == ("Q-1", 1), "a deleted estimate no longer counts"
    moved = ev("estimates", {"estimateNumber": "E-1"}, estimate("E-1", "SO-2", "Q-1", 2), version=2)
    register_and_import(write(tmp_path, "estimates", [moved], name="d"))
    o.refresh_from_db()
    assert (o.quote_number, o.quote_version) == (None, None)
    assert Order.objects.get(order_number="SO-2").quote_number == "Q-1"


def test_equal_estimate_times_higher_number_wins(tmp_path):
    at = "2026-11-27T10:00:00Z"
    register_and_import(
        write(
            tmp_path,
            "estimates",
            [
                ev("estimates", {"estimateNumber": "E-10"}, estimate("E-10", "SO-1", "Q-A", 1), at=at),
                ev("estimates", {"estimateNumber": "E-9"}, estimate("E-9", "SO-1", "Q-B", 1), at=at),
            ],
        )
    )
    assert Order.objects.get(order_number="SO-1").quote_number == "Q-B"  # "E-9" > "E-10" as strings
    assert Estimate.objects.count() == 2


def test_gzip_is_detected_by_content_not_name(tmp_path):
    plain = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))], name="x.gz", gz=False)
    packed = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-2"}, order("SO-2"))], name="y.txt")
    assert register_and_import(plain)[0].status == "imported"
    assert register_and_import(packed)[0].status == "imported"
    assert Order.objects.filter(order_number__in=["SO-1", "SO-2"]).count() == 2


def test_multi_member_gzip_as_concatenated_deliveries(tmp_path):
    a = gzip.compress(write_record(ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))).encode())
    b = gzip.compress(write_record(ev("orders", {"orderNumber": "SO-2"}, order("SO-2"))).encode())
    path = tmp_path / "orders" / "multi"
    path.parent.mkdir()
    path.write_bytes(a + b)
    assert register_and_import(path)[0].rows_created == 2


def test_unknown_stream_fails_with_a_clear_error(tmp_path):
    path = tmp_path / "elsewhere" / "file"
    path.parent.mkdir()
    path.write_bytes(b"")
    f, _ = register_and_import(path)
    assert f.status == "failed" and "cannot tell the stream" in f.error_message


def test_missing_local_file_fails(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))])
    f, _ = register_local_file(path)
    path.unlink()
    import_file(f.pk)
    f.refresh_from_db()
    assert f.status == "failed" and "No such file" in f.error_message


def test_dry_run_rolls_back(tmp_path):
    path = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))])
    f, outcome = register_and_import(path, trigger="task", dry_run=True)
    assert outcome.dry_run and outcome.counts["rows_created"] == 1
    assert f.status in {"pending", "running"} and Order.objects.count() == 0
    assert not ImportAttempt.objects.exists()


@pytest.mark.postgres
def test_nul_in_text_is_a_line_error_on_postgres(tmp_path):
    bad = ev("orders", {"orderNumber": "SO-1"}, order("SO-1", poNumber="PO\x00-1"))
    f, _ = register_and_import(write(tmp_path, "orders", [bad, ev("orders", {"orderNumber": "SO-2"}, order("SO-2"))]))
    assert f.status == "imported_with_errors" and f.rows_created == 1
    assert "U+0000" in ImportLineError.objects.get(import_file=f).message


def test_stream_from_local_path():
    from ingest.services.intake.registration import stream_for_path

    assert stream_for_path(Path("/srv/estimates/copy/orders/2026/11/27/10/file")) == "orders"
    assert stream_for_path(Path("/srv/misc/file")) == ""


def test_stream_from_key():
    assert stream_for_key("orders/2026/11/27/10/prod-orders-1-2026-11-27-10-00-00-abc.gz") == "orders"
    assert stream_for_key("order-lines/x") == "order-lines"
    assert stream_for_key("errors/orders/processing-failed/x") == ""


def test_import_file_command_local(tmp_path, capsys):
    good = write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, order("SO-1"))], name="good")
    call_command("import_file", str(good))
    out = capsys.readouterr().out
    assert "imported: 1 lines, 1 created, 0 updated, 0 stale, 0 deleted, 1 placeholders, 0 errors" in out
    other = tmp_path / "misc" / "lines.txt"
    other.parent.mkdir()
    other.write_text(write_record(ev("orders", {"orderNumber": "SO-5"}, order("SO-5"))))
    call_command("import_file", "--stream", "orders", str(other))
    assert Order.objects.filter(order_number="SO-5").exists()
    unknown = tmp_path / "elsewhere" / "lines.txt"
    unknown.parent.mkdir()
    unknown.write_bytes(b"x\n")
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command("import_file", str(unknown), str(good))


def test_import_from_s3_through_django_storages(s3, bucket, tmp_path):
    key = "orders/2026/11/27/10/prod-orders-1-2026-11-27-10-00-00-abc"
    body = gzip.compress(write_record(ev("orders", {"orderNumber": "SO-7"}, order("SO-7"))).encode())
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    f, created = register_s3_object(S3Object(bucket, key, etag, len(body), event_time=datetime.now(UTC)))
    assert created and f.stream == "orders" and f.etag == etag.strip('"')
    again, created_again = register_s3_object(S3Object(bucket, key, etag))
    assert again.pk == f.pk and not created_again
    outcome = import_file(f.pk)
    assert outcome.status == "imported"
    assert Order.objects.get(order_number="SO-7").last_import_id == f.pk
    call_command("import_file", f"s3://{bucket}/{key}")  # registered already: skipped, not failed


def test_s3_object_changed_since_announced_fails(s3, bucket):
    key = "orders/2026/11/27/10/obj"
    first = s3.put_object(Bucket=bucket, Key=key, Body=b"a")["ETag"]
    s3.put_object(Bucket=bucket, Key=key, Body=b"bb")
    f, _ = register_s3_object(S3Object(bucket, key, first))
    outcome = import_file(f.pk)
    assert outcome.failed and "changed" in outcome.error


def test_import_from_s3_with_in_process_moto(settings):
    from moto import mock_aws

    settings.AWS_ENDPOINT_URL = None
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="another-bucket")
        key = "orders/2026/11/27/10/x"
        body = gzip.compress(write_record(ev("orders", {"orderNumber": "SO-8"}, order("SO-8"))).encode())
        etag = s3.put_object(Bucket="another-bucket", Key=key, Body=body)["ETag"]
        f, _ = register_s3_object(S3Object("another-bucket", key, etag))
        assert import_file(f.pk).status == "imported"
    assert Order.objects.filter(order_number="SO-8").exists()


@pytest.mark.parametrize(
    ("occurred_at", "stored"),
    [
        ("2026-11-27T10:15:30.123Z", datetime(2026, 11, 27, 10, 15, 30, 123000, tzinfo=UTC)),
        # More than six digits are truncated (PostgreSQL would round: .123457, and 31 s below).
        ("2026-11-27T10:15:30.123456789Z", datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2026-11-27T10:15:30.9999999-03:00", datetime(2026, 11, 27, 13, 15, 30, 999999, tzinfo=UTC)),
        ("2026-11-27t10:15:30.5z", datetime(2026, 11, 27, 10, 15, 30, 500000, tzinfo=UTC)),
        ("2026-11-27 10:15:30+05:30", datetime(2026, 11, 27, 4, 45, 30, tzinfo=UTC)),
    ],
)
def test_occurred_at_and_money_are_stored_exactly_whatever_the_text_shape(tmp_path, occurred_at, stored):
    data = order("SO-1", subtotal="100.5", tax="-0.0001", total="100.4999", orderDate="2026-02-28")
    register_and_import(write(tmp_path, "orders", [ev("orders", {"orderNumber": "SO-1"}, data, at=occurred_at)]))
    row = Order.objects.get(order_number="SO-1")
    assert row.source_occurred_at == stored
    assert (row.subtotal, row.tax, row.total) == (Decimal("100.5"), Decimal("-0.0001"), Decimal("100.4999"))
    assert row.order_date.isoformat() == "2026-02-28"
