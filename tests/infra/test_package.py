"""``python -m transforms.package``: the transform Lambda's zip, and the handler running from it.

The handler runs in a separate interpreter started with ``-I -S`` (no site-packages, no
PYTHONPATH, no user site) and a near-empty environment, with only the extracted zip on
``sys.path``: what Lambda's python runtime gives it. Django is not importable there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from .hcl import REPO_ROOT

DELIVERY_STREAM_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/prod-orders"


def build(output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transforms.package", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("package") / "out" / "transform.zip"
    result = build(output)
    assert output.is_file(), result.stdout + result.stderr
    return output


def test_package_builds_a_zip_of_the_transforms_package(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert names == sorted(names)
    assert "transforms/__init__.py" in names
    assert "transforms/streams.json" in names
    assert "transforms/streams.py" in names
    assert "transforms/handler.py" in names
    assert all(name.startswith("transforms/") for name in names), names
    assert all(name.endswith((".py", ".json")) for name in names), names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "/tests/" in n or Path(n).name.startswith(("test_", "conftest"))], names
    assert not [n for n in names if "django" in n.lower() or n.startswith(("website/", "ingest/"))], names
    # Every module of the package (outside tests and the packager itself) is in the zip.
    expected = {
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "transforms").rglob("*.py")
        if "__pycache__" not in p.parts
        and "tests" not in p.parts
        and p.name not in {"package.py", "conftest.py"}
        and not p.name.startswith("test_")
    }
    assert expected <= set(names), expected - set(names)


def test_package_is_deterministic(package: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    build(again)
    assert again.read_bytes() == package.read_bytes()
    with zipfile.ZipFile(package) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_package_reports_terraforms_hash(package: Path, tmp_path: Path) -> None:
    out = build(tmp_path / "t.zip").stdout
    digest = base64.b64encode(hashlib.sha256((tmp_path / "t.zip").read_bytes()).digest()).decode()
    assert digest in out  # the value filebase64sha256 (and Lambda's CodeSha256) will show


def test_package_default_output_is_dist() -> None:
    from transforms import package as packager

    assert packager.DEFAULT_OUTPUT == REPO_ROOT / "dist" / "transform.zip"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _kinesis_metadata(sequence: str, partition_key: str) -> dict[str, object]:
    return {
        "shardId": "shardId-000000000000",
        "partitionKey": partition_key,
        "approximateArrivalTimestamp": 1795428930123,
        "sequenceNumber": sequence,
        "subsequenceNumber": 0,
    }


ORDER_EVENT = {
    "eventId": "6a0d3c1e-58f4-4c5b-9a43-1c2f7d9e0b11",
    "stream": "orders",
    "eventType": "upsert",
    "occurredAt": "2026-11-27T10:15:30.123Z",
    "version": 42,
    "key": {"orderNumber": "SO-104233"},
    "data": {
        "orderNumber": "SO-104233",
        "customerNumber": "C-1001",
        "orderDate": "2026-11-27",
        "status": "OPEN",
        "currency": "USD",
        "subtotal": "1234.5600",
        "tax": "98.76",
        "shipping": "12.5",
        "total": "1345.8200",
        "poNumber": 'PO, "quoted" | piped\ttabbed\nnewline 🎉',
        "requestedShipDate": None,
        "rush": False,
    },
}


def firehose_test_event() -> dict[str, Any]:
    """The AWS console's "kinesis-firehose" test event, from a Kinesis source: one good, one bad."""
    return {
        "invocationId": "invocationIdExample",
        "deliveryStreamArn": DELIVERY_STREAM_ARN,
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/prod-orders",
        "region": "us-east-1",
        "records": [
            {
                "recordId": "49546986683135544286507457936321625675700192471156785154",
                "approximateArrivalTimestamp": 1795428930123,
                "data": _b64(json.dumps(ORDER_EVENT).encode("utf-8")),
                "kinesisRecordMetadata": _kinesis_metadata(
                    "49546986683135544286507457936321625675700192471156785154", "SO-104233"
                ),
            },
            {
                "recordId": "49546986683135544286507457936321625675700192471156785155",
                "approximateArrivalTimestamp": 1795428930124,
                "data": _b64(b'{"eventId": "not an event'),
                "kinesisRecordMetadata": _kinesis_metadata(
                    "49546986683135544286507457936321625675700192471156785155", "x"
                ),
            },
        ],
    }


RUNNER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])

    class Context:
        function_name = "prod-erp-ingest-transform"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:prod-erp-ingest-transform"
        memory_limit_in_mb = 256
        aws_request_id = "c0ffee00-0000-4000-8000-000000000000"
        log_group_name = "/aws/lambda/prod-erp-ingest-transform"
        log_stream_name = "2026/11/27/[$LATEST]0123456789abcdef"

        @staticmethod
        def get_remaining_time_in_millis():
            return 120000

    from transforms.handler import lambda_handler

    event = json.load(sys.stdin)
    result = lambda_handler(event, Context())
    imported = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "website", "ingest", "boto3"})
    json.dump({"result": result, "imported": imported, "path": sys.path}, sys.stdout)
    """
)


def test_handler_runs_from_the_zip_alone(package: Path, tmp_path: Path) -> None:
    site = tmp_path / "lambda-task"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(site)
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER, encoding="utf-8")
    # A Lambda-like, otherwise empty environment: no PYTHONPATH, no DJANGO_SETTINGS_MODULE.
    env = {
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "prod-erp-ingest-transform",
    }
    completed = subprocess.run(
        [sys.executable, "-I", "-S", str(runner), str(site)],
        input=json.dumps(firehose_test_event()),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    out = json.loads(completed.stdout)
    assert out["imported"] == [], f"the transform imported {out['imported']}"
    assert str(REPO_ROOT) not in out["path"]

    records = out["result"]["records"]
    sent = firehose_test_event()["records"]
    assert [r["recordId"] for r in records] == [r["recordId"] for r in sent]
    good, bad = records
    assert good["result"] == "Ok"
    data = base64.b64decode(good["data"], validate=True)
    assert data.endswith(b"\n")
    assert data.strip()
    assert bad["result"] == "ProcessingFailed"
