"""Test data for the admin: files really imported from System One lines, and rows made in bulk."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from ingest.models import ImportFile, ImportLineError, ImportStatus
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.event_generator import generate_events
from ingest.testing.imports import register_and_import
from transforms.system_one.writer import write_record

# A bad line that would run script if the admin ever rendered file data as HTML.
HOSTILE_LINE = '<script>alert("xss")</script> & <b>not a record</b>'


def order_lines(n: int = 6, seed: int = 1) -> list[str]:
    """System One lines of valid ``orders`` events."""
    events = [e for e in generate_events(n, streams=["orders"], seed=seed) if "_invalid" not in e]
    return [write_record(e) for e in events]


def write_orders_file(folder: Path, name: str, *, bad_lines: tuple[str, ...] = (HOSTILE_LINE,), seed: int = 1) -> Path:
    """An orders file (its path names the stream) with valid lines, then the bad ones."""
    path = folder / "orders" / "2026" / "11" / "27" / "10" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(order_lines(seed=seed)) + "".join(f"{line}\n" for line in bad_lines)
    path.write_text(text, encoding="utf-8")
    return path


def imported_file(path: Path) -> ImportFile:
    """Registers and imports a local file the way ``manage.py import_file`` does."""
    f, _outcome = register_and_import(path, stream="orders", trigger="command")
    return f


def failed_file(folder: Path, name: str = "gone-file") -> tuple[ImportFile, Path]:
    """A file that failed because it vanished before its import; returns the file and where it was."""
    path = write_orders_file(folder, name, seed=2)
    f, _ = register_local_file(path, stream="orders")
    hidden = path.with_name(path.name + ".hidden")
    path.rename(hidden)
    import_file(f.pk, trigger="command")
    hidden.rename(path)
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED, f.error_message
    return f, path


def failed_after_line_errors(folder: Path, name: str = "flaky-file") -> tuple[ImportFile, Path]:
    """A file imported once with a bad line, then re-imported while it was missing: failed, with the
    line errors of its first attempt still on record. Its file is back in place afterwards."""
    from ingest.services.repair.reimport import reimport_files

    path = write_orders_file(folder, name, seed=3)
    f = imported_file(path)
    assert f.status == ImportStatus.IMPORTED_WITH_ERRORS
    hidden = path.with_name(path.name + ".hidden")
    path.rename(hidden)
    reimport_files(ImportFile.objects.filter(pk=f.pk), sync=True)
    hidden.rename(path)
    f.refresh_from_db()
    assert f.status == ImportStatus.FAILED, f.status
    return f, path


def make_file(**fields) -> ImportFile:
    """An ImportFile row as the importer would leave it (for list and dashboard tests)."""
    now = timezone.now()
    defaults = {
        "bucket": "erp-ingest-test",
        "key": f"orders/2026/11/27/10/prod-orders-1-2026-11-27-10-00-00-{uuid.uuid4()}",
        "etag": uuid.uuid4().hex,
        "stream": "orders",
        "status": ImportStatus.IMPORTED,
        "registered_by": "notification",
        "received_at": now,
        "finished_at": now,
    }
    defaults.update(fields)
    return ImportFile.objects.create(**defaults)


def make_files(n: int, *, finished_at: datetime | None = None, **fields) -> list[ImportFile]:
    now = finished_at or timezone.now()
    files = [
        ImportFile(
            bucket="erp-ingest-test",
            key=f"{fields.get('stream', 'orders')}/2026/11/27/10/prod-x-1-2026-11-27-10-00-00-{uuid.uuid4()}",
            etag=uuid.uuid4().hex,
            stream=fields.get("stream", "orders"),
            status=fields.get("status", ImportStatus.IMPORTED),
            received_at=now - timedelta(seconds=30),
            finished_at=now,
            lag_seconds=fields.get("lag_seconds", 30.0),
            lines_total=10,
            rows_created=8,
            errors_count=2,
        )
        for _ in range(n)
    ]
    return ImportFile.objects.bulk_create(files)


def add_line_errors(f: ImportFile, n: int) -> None:
    ImportLineError.objects.bulk_create(
        ImportLineError(import_file=f, line_number=i + 1, raw_text=f"bad line {i + 1}", message=f"reason {i + 1}")
        for i in range(n)
    )


def make_website_rows(n: int, *, last_import: ImportFile | None = None, start: int = 0) -> None:
    """``n`` rows in each of the nine website models (children pointing at real parents)."""
    from website.models import (
        Customer,
        Estimate,
        Invoice,
        InvoiceLine,
        Order,
        OrderLine,
        Shipment,
        ShippingAddress,
        VirtualRequest,
    )

    f = last_import or make_file()
    common = {"last_import": f, "source_version": 1, "source_occurred_at": f.finished_at}
    keys = range(start, start + n)
    Customer.objects.bulk_create(
        Customer(customer_number=f"C-{i:05d}", name=f"Customer <b>{i}</b>", status="ACTIVE", **common) for i in keys
    )
    Order.objects.bulk_create(
        Order(order_number=f"SO-{i:06d}", customer_id=f"C-{i:05d}", status="OPEN", total="10.5", **common) for i in keys
    )
    OrderLine.objects.bulk_create(
        OrderLine(order_id=f"SO-{i:06d}", line_number=1, sku="SKU-1", description="Linen journal", **common)
        for i in keys
    )
    Invoice.objects.bulk_create(
        Invoice(
            invoice_number=f"INV-{i:06d}", order_id=f"SO-{i:06d}", customer_id=f"C-{i:05d}", status="OPEN", **common
        )
        for i in keys
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice_id=f"INV-{i:06d}", line_number=1, sku="SKU-1", **common) for i in keys
    )
    Shipment.objects.bulk_create(
        Shipment(shipment_number=f"SH-{i:06d}", order_id=f"SO-{i:06d}", carrier="UPS", status="SHIPPED", **common)
        for i in keys
    )
    ShippingAddress.objects.bulk_create(
        ShippingAddress(address_id=f"A-{i:06d}", order_id=f"SO-{i:06d}", name=f"Dock {i}", **common) for i in keys
    )
    VirtualRequest.objects.bulk_create(
        VirtualRequest(request_number=f"VR-{i:06d}", order_id=f"SO-{i:06d}", status="REQUESTED", **common) for i in keys
    )
    Estimate.objects.bulk_create(
        Estimate(
            estimate_number=f"E-{i:06d}",
            order_id=f"SO-{i:06d}",
            customer_id=f"C-{i:05d}",
            quote_number=f"Q-{i}",
            status="SENT",
            **common,
        )
        for i in keys
    )
