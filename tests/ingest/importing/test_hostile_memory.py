"""Peak memory of ``import_file`` on hostile files, each measured in a fresh subprocess.

The child runs ``manage.py import_file`` on one file and reports its own peak RSS: VmHWM of
/proc/self/status, the high-water mark of the child's own address space (``ru_maxrss`` would
not do: Linux carries it over ``fork`` and ``exec``, so it starts at the size of pytest).
The bound is 150 MB whatever the file: a GZIP bomb, a 200 MB line, a million fields in one
line, NUL bytes, a truncated or corrupt GZIP, five million bad lines.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from ingest.testing.samples import customer_event, order_line_event
from transforms.system_one.writer import write_record

# Committed data, so that on PostgreSQL the child sees the same test database.
pytestmark = pytest.mark.django_db(transaction=True)

PEAK_RSS_LIMIT_MB = 150
REPO = Path(__file__).resolve().parents[3]

CHILD = """
import json, sys
import django
django.setup()
from django.core.management import CommandError, call_command
from ingest.models import ImportFile, ImportLineError
from django.db.models.functions import Length
from django.db.models import Max
try:
    call_command("import_file", "--stream", sys.argv[2], sys.argv[1], stdout=open("/dev/null", "w"))
except CommandError:
    pass
f = ImportFile.objects.order_by("-pk").first()
longest = ImportLineError.objects.filter(import_file=f).aggregate(m=Max(Length("raw_text")))["m"] or 0
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "status": f.status, "error": f.error_message[:300], "lines": f.lines_total, "created": f.rows_created,
    "errors": f.errors_count, "longest_raw_text": longest,
    "peak_rss_mb": peak_kb / 1024,
}))
"""


def _vendor() -> str:
    return django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory) -> str:
    """A migrated SQLite file of its own: the child cannot see the tests' in-memory database."""
    path = tmp_path_factory.mktemp("hostile-db") / "db.sqlite3"
    url = f"sqlite:///{path}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        timeout=300,
    )
    return url


@pytest.fixture
def database_url(request) -> str:
    if _vendor() != "postgresql":
        return request.getfixturevalue("sqlite_url")
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def import_in_child(database_url: str, path: Path, stream: str = "customers") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(DJANGO_SETTINGS_MODULE="website.settings", DATABASE_URL=database_url)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), stream],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{path.name}: {result}")
    return result


def customer_line(number: str) -> bytes:
    return write_record(customer_event(number)).encode()


def good_lines(n: int) -> bytes:
    """``n`` valid lines of customers no other file has (the SQLite database is shared by the module)."""
    run = uuid.uuid4().hex[:8]
    template = customer_line("C-0")
    return b"".join(template.replace(b"customerNumber=C-0", f"customerNumber={run}-{i}".encode()) for i in range(n))


def gzip_stream(path: Path, pieces) -> Path:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        for piece in pieces:
            out.write(compressor.compress(piece))
        out.write(compressor.flush())
    return path


def assert_bounded(result: dict) -> None:
    assert result["peak_rss_mb"] < PEAK_RSS_LIMIT_MB, result
    assert result["longest_raw_text"] <= 4 * 4096, result


@pytest.mark.slow
def test_gzip_bomb(tmp_path, database_url):
    megabyte = b"\0" * (1 << 20)
    path = gzip_stream(tmp_path / "bomb.gz", (megabyte for _ in range(1024)))  # 1 GiB of zeros, ~1 MB of GZIP
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert (result["status"], result["errors"]) == ("imported_with_errors", 1)


@pytest.mark.slow
def test_a_200_mb_line(tmp_path, database_url):
    path = tmp_path / "long-line"
    with path.open("wb") as out:
        out.write(good_lines(1))
        out.write(customer_line(f"C-LONG-{uuid.uuid4()}")[:-1])
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            out.write(chunk)
        out.write(b"\n")
        out.write(good_lines(1))
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert (result["status"], result["created"], result["errors"]) == ("imported_with_errors", 2, 1)


def test_a_million_fields_in_one_line(tmp_path, database_url):
    head = customer_line(f"C-FIELDS-{uuid.uuid4()}")[:-1]
    path = tmp_path / "fields"
    # Just under INGEST_MAX_LINE_BYTES, so that the reader gets the whole line to split.
    fields = (django_settings.INGEST_MAX_LINE_BYTES - len(head)) // 2
    assert fields > 500_000
    path.write_bytes(good_lines(1) + head + b"|x" * fields + b"\n" + b"|" * 1_000_000 + b"\n")
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert (result["status"], result["created"], result["errors"]) == ("imported_with_errors", 1, 2)


def test_nul_bytes(tmp_path, database_url):
    poisoned = customer_line(f"C-NUL-{uuid.uuid4()}").replace(b"Acme", b"Ac\0me")
    path = tmp_path / "nul"
    path.write_bytes(good_lines(1000) + poisoned * 1000 + b"\0" * 100_000 + b"\n")
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert (result["status"], result["created"], result["errors"]) == ("imported_with_errors", 1000, 1001)


def test_truncated_gzip(tmp_path, database_url):
    packed = gzip.compress(good_lines(50_000))
    path = tmp_path / "truncated.gz"
    path.write_bytes(packed[: len(packed) // 2])
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert result["status"] == "imported_with_errors" and result["errors"] == 1
    assert 0 < result["created"] < 50_000


def test_bad_crc(tmp_path, database_url):
    packed = bytearray(gzip.compress(good_lines(50_000)))
    crc = struct.unpack("<I", packed[-8:-4])[0]
    packed[-8:-4] = struct.pack("<I", crc ^ 1)
    path = tmp_path / "bad-crc.gz"
    path.write_bytes(bytes(packed))
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert (result["status"], result["created"], result["errors"]) == ("failed", 0, 0)
    assert "CRC check failed" in result["error"]


@pytest.mark.slow
def test_five_million_bad_lines(tmp_path, database_url):
    path = gzip_stream(tmp_path / "bad-lines.gz", (b"not a record\n" * 100_000 for _ in range(50)))
    result = import_in_child(database_url, path)
    assert_bounded(result)
    assert (result["status"], result["lines"], result["errors"]) == ("imported_with_errors", 5_000_000, 5_000_000)


def wide_order_line(number: str, line: int, text: str) -> bytes:
    event = order_line_event(number, line)
    event["data"]["description"] = text
    return write_record(event).encode()


# A million characters, or as many as fit under INGEST_MAX_LINE_BYTES: ASCII, two-byte and
# four-byte UTF-8 (JSON staging writes each as a \u escape: three to six times its bytes), and a
# character the System One format escapes (two bytes in the file, one in the value).
WIDE_TEXTS = {
    "ascii": "d" * 1_000_000,
    "two-byte": "é" * 500_000,
    "emoji": "\N{GRINNING FACE}" * 250_000,
    "escaped": "|" * 500_000,
}


@pytest.mark.parametrize("kind", list(WIDE_TEXTS))
def test_a_hundred_lines_of_a_million_characters(tmp_path, database_url, kind):
    """Every line under INGEST_MAX_LINE_BYTES, yet 100 MB in all: a batch is bounded by its bytes
    (INGEST_BATCH_MAX_BYTES) as well as by its lines, or this one batch would take ~450 MB."""
    run = uuid.uuid4().hex[:8]
    text = WIDE_TEXTS[kind]
    assert len(wide_order_line(f"SO-WIDE-{run}", 1, text)) < django_settings.INGEST_MAX_LINE_BYTES
    lines = (wide_order_line(f"SO-WIDE-{run}", n, text) for n in range(1, 101))
    result = import_in_child(database_url, gzip_stream(tmp_path / f"wide-{kind}.gz", lines), "order-lines")
    assert_bounded(result)
    assert (result["status"], result["created"], result["errors"]) == ("imported", 100, 0)
