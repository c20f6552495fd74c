"""Fuzzing the registration of Firehose's error output (``errors/`` objects): Firehose's JSON
lines mutated, arbitrary lines, GZIP framing.

Property: ``register_error_object`` never raises (a raise would leave the notification to loop);
each object is one ``ErrorOutputFile``; every non-blank line is one ``FailedRecord``, unless the GZIP
is corrupt (no records, the reason on the ErrorOutputFile)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.models import FailedRecord
from ingest.services.intake.error_output import register_error_object
from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import gzip_framed, is_corrupt_gzip, json_values, mutated_json, nasty_bytes

pytestmark = pytest.mark.django_db(transaction=True)

FIREHOSE_LINE = {
    "attemptsMade": 1,
    "arrivalTimestamp": 1764238530123,
    "errorCode": "Lambda.FunctionError",
    "errorMessage": "rejected",
    "attemptEndingTimestamp": 1764238531123,
    "rawData": base64.b64encode(b'{"eventId": "x"}').decode(),
    "lambdaArn": "arn:aws:lambda:us-east-1:1:function:t",
}


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["firehose", "mutated", "value", "garbage", "blank"]))
    if kind == "firehose":
        line = json.dumps(FIREHOSE_LINE).encode()
    elif kind == "mutated":
        line = draw(mutated_json(FIREHOSE_LINE))
    elif kind == "value":
        line = json.dumps({k: draw(json_values()) for k in FIREHOSE_LINE}).encode("utf-8", "surrogatepass")
    elif kind == "blank":
        line = draw(st.sampled_from([b"", b" ", b"\r", b"\t"]))
    else:
        line = draw(nasty_bytes)
    return line.replace(b"\n", b" ") + b"\n"


@budget(2)
@given(content=st.lists(lines(), max_size=8), data=st.data())
def test_every_error_object_is_registered_with_its_lines(tmp_path_factory, content, data):
    count("error-output objects: register_error_object")
    payload = b"".join(content)
    raw, framing = data.draw(gzip_framed(payload))
    path = tmp_path_factory.mktemp("errors") / "errors" / "orders" / "processing-failed" / "object"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    error_file, created = register_error_object("", str(path), registered_by="fuzz")
    assert created
    stored = FailedRecord.objects.filter(error_file=error_file).count()
    assert stored == error_file.records_count
    if raw[:2] == b"\x1f\x8b" and is_corrupt_gzip(raw):
        assert stored == 0 and "corrupt" in error_file.error_message
    elif framing in {"gzip", "members"} or (framing == "plain" and raw[:2] != b"\x1f\x8b"):
        assert stored == sum(1 for line in content if line.strip())
        assert error_file.error_message == ""
