"""Hostile files: overlong lines, NUL bytes and damaged GZIP become line errors; the rest loads."""

from __future__ import annotations

import gzip
import io
import struct
import uuid
import zlib
from pathlib import Path

import pytest

from ingest.models import ImportLineError
from ingest.services.importing.line_errors import EXCERPT_BYTES
from ingest.services.importing.sources import decompressed, source_damage
from ingest.testing.imports import register_and_import
from ingest.testing.samples import customer_event
from transforms.system_one.writer import write_record
from website.models import Customer

pytestmark = pytest.mark.django_db


def lines(*numbers: str) -> bytes:
    return "".join(write_record(customer_event(n)) for n in numbers).encode()


def put(tmp_path: Path, payload: bytes, name: str = "f") -> Path:
    path = tmp_path / "customers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def errors(f) -> list[ImportLineError]:
    return list(ImportLineError.objects.filter(import_file=f).order_by("line_number"))


def test_an_overlong_line_is_an_error_with_an_excerpt_and_its_length(tmp_path, settings):
    settings.INGEST_MAX_LINE_BYTES = 10_000
    long_line = write_record(customer_event("C-LONG", name="x" * 50_000)).encode()
    f, _ = register_and_import(put(tmp_path, lines("C-1") + long_line + lines("C-2")))
    assert f.status == "imported_with_errors"
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"C-1", "C-2"}
    [error] = errors(f)
    assert error.line_number == 2
    assert str(len(long_line) - 1) in error.message and "INGEST_MAX_LINE_BYTES" in error.message
    assert error.raw_text == long_line[:EXCERPT_BYTES].decode()


def test_a_long_bad_line_under_the_limit_is_stored_cut_to_the_excerpt(tmp_path):
    bad = b"CUS|" + b"y" * 100_000
    f, _ = register_and_import(put(tmp_path, lines("C-1") + bad + b"\n"))
    [error] = errors(f)
    assert len(error.raw_text) == EXCERPT_BYTES
    assert f"the line has {len(bad)} bytes" in error.message


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_raw_nul_byte_fails_its_line_only(tmp_path, compress):
    poisoned = lines("C-NUL").replace(b"Acme", b"Ac\x00me")
    payload = lines("C-1") + poisoned + lines("C-2")
    f, _ = register_and_import(put(tmp_path, gzip.compress(payload) if compress else payload))
    assert f.status == "imported_with_errors", f.error_message
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"C-1", "C-2"}
    [error] = errors(f)
    assert error.line_number == 2
    assert "\x00" not in error.raw_text and "Ac\\x00me" in error.raw_text


def test_a_nul_in_a_bad_line_that_is_not_utf8_is_escaped_too(tmp_path):
    f, _ = register_and_import(put(tmp_path, lines("C-1") + b"\xff\x00\xfe\n"))
    [error] = errors(f)
    assert error.raw_text == "\\xff\\x00\\xfe"


def test_truncated_gzip_imports_the_complete_lines_before_the_damage(tmp_path):
    numbers = [f"C-{i}" for i in range(2000)]
    packed = gzip.compress(lines(*numbers))
    f, _ = register_and_import(put(tmp_path, packed[: len(packed) // 2]))
    assert f.status == "imported_with_errors"
    [error] = errors(f)
    assert "damaged" in error.message and "truncated" in error.message
    imported = set(Customer.objects.values_list("customer_number", flat=True))
    # Every line before the damage, in order, and the one it cut is not among them.
    assert imported == set(numbers[: error.line_number - 1])
    assert 0 < len(imported) < len(numbers)
    assert f.rows_created == len(imported) and f.errors_count == 1


def test_garbage_after_the_gzip_keeps_the_lines_and_records_it(tmp_path):
    f, _ = register_and_import(put(tmp_path, gzip.compress(lines("C-1", "C-2", "C-3")) + b"trailing junk"))
    assert f.status == "imported_with_errors"
    [error] = errors(f)
    assert error.line_number == 4 and "not GZIP" in error.message and error.raw_text == ""
    assert Customer.objects.count() == 3


def with_bad_crc(payload: bytes) -> bytes:
    packed = bytearray(gzip.compress(payload, mtime=0))
    crc = struct.unpack("<I", packed[-8:-4])[0]
    packed[-8:-4] = struct.pack("<I", crc ^ 0xFFFFFFFF)
    return bytes(packed)


def test_a_bad_crc_fails_the_file_with_a_clear_reason_and_keeps_no_rows(tmp_path):
    f, outcome = register_and_import(put(tmp_path, with_bad_crc(lines("C-1", "C-2", "C-3"))))
    assert f.status == "failed" and outcome.failed
    assert "CorruptSource" in f.error_message and "CRC check failed" in f.error_message
    assert "nothing of the file was imported" in f.error_message
    assert Customer.objects.count() == 0 and not errors(f)


def test_corrupt_deflate_data_fails_the_file(tmp_path):
    events = [customer_event(f"C-{i}") for i in range(3000)]
    for n, event in enumerate(events):
        event["eventId"] = str(uuid.UUID(int=n + 1, version=4))
    packed = bytearray(gzip.compress("".join(write_record(e) for e in events).encode(), mtime=0))
    packed[len(packed) // 2] ^= 0xFF
    f, _ = register_and_import(put(tmp_path, bytes(packed)))
    assert f.status == "failed" and "the GZIP data is corrupt" in f.error_message
    assert Customer.objects.count() == 0


def test_a_gzip_bomb_of_zeros_is_one_overlong_line(tmp_path, settings):
    settings.INGEST_MAX_LINE_BYTES = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    packed = b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    f, _ = register_and_import(put(tmp_path, packed))
    assert f.status == "imported_with_errors"
    [error] = errors(f)
    assert f"{64 << 20} bytes" in error.message
    assert len(error.raw_text) <= 4 * EXCERPT_BYTES and "\x00" not in error.raw_text


def test_thousands_of_overlong_lines_are_each_a_line_error(tmp_path, settings):
    settings.INGEST_MAX_LINE_BYTES = 10
    f, _ = register_and_import(put(tmp_path, b"y" * 11 + b"\n" + (b"z" * 20 + b"\n") * 2500 + b"short\n"))
    assert f.status == "imported_with_errors" and f.errors_count == 2502 and f.lines_total == 2502
    stored = ImportLineError.objects.filter(import_file=f)
    assert stored.count() == 2502 and stored.filter(message__startswith="line too long").count() == 2501


def test_a_checked_gzip_reads_whole_or_in_pieces_up_to_the_damage():
    packed = gzip.compress(b"0123456789" * 1000)
    whole = decompressed(io.BufferedReader(io.BytesIO(packed)))
    assert whole.read() == b"0123456789" * 1000 and source_damage(whole) == ""
    cut = decompressed(io.BufferedReader(io.BytesIO(packed[:-4])))  # the length field is gone
    pieces = list(iter(lambda: cut.read(7), b""))
    assert b"".join(pieces) == b"0123456789" * 1000 and all(len(p) <= 7 for p in pieces)
    assert "truncated" in source_damage(cut)
