"""Fuzzing the transform Lambda with Firehose's event shape and anything in it.

Property: ``lambda_handler`` never raises; it answers one record per record, with its recordId;
``Ok`` only for a valid event of the delivery stream's stream, whose System One line reads back
to that event; ``ProcessingFailed`` hands the data back as it came (for the error output)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import json_values, mutated_json, nasty_bytes
from tests.transforms.strategies import event_bodies
from transforms.events import InvalidEvent, parse_event
from transforms.handler import lambda_handler
from transforms.streams import STREAM_NAMES
from transforms.system_one.reader import read_record


@st.composite
def records(draw: st.DrawFn, stream: str) -> dict:
    kind = draw(st.sampled_from(["valid", "mutated", "garbage", "not-base64", "shape"]))
    record_id = draw(st.text(max_size=20))
    if kind == "shape":
        return draw(st.dictionaries(st.sampled_from(["recordId", "data", "x"]), json_values(), max_size=3))
    if kind == "not-base64":
        return {"recordId": record_id, "data": draw(st.text(max_size=40))}
    if kind == "garbage":
        body = draw(st.binary(max_size=200) | nasty_bytes)
    else:
        event, body = draw(event_bodies(stream if draw(st.integers(0, 4)) else None))
        if kind == "mutated":
            body = draw(mutated_json(event))
    return {"recordId": record_id, "data": base64.b64encode(body).decode()}


@st.composite
def invocations(draw: st.DrawFn) -> tuple[str, dict]:
    stream = draw(st.sampled_from(STREAM_NAMES))
    arn = draw(
        st.sampled_from([f"arn:aws:firehose:us-east-1:1:deliverystream/prod-{stream}", f"x-{stream}", "", "orders"])
    )
    event: dict = {"deliveryStreamArn": arn, "records": draw(st.lists(records(stream), max_size=6))}
    if draw(st.integers(0, 9)) == 0:
        event = draw(st.dictionaries(st.sampled_from(["records", "deliveryStreamArn"]), json_values(), max_size=2))
    return stream, event


@budget(4)
@given(case=invocations())
def test_the_transform_answers_every_record_and_never_raises(case):
    count("transform: Firehose records")
    stream, event = case
    answer = lambda_handler(event)
    records_in = event.get("records") if isinstance(event.get("records"), list) else []
    assert len(answer["records"]) == len(records_in)
    for record, out in zip(records_in, answer["records"], strict=True):
        data = record.get("data") if isinstance(record, dict) else None
        assert out["recordId"] == (record.get("recordId") if isinstance(record, dict) else None)
        assert out["result"] in {"Ok", "ProcessingFailed"}
        if out["result"] == "ProcessingFailed":
            assert out["data"] == (data if isinstance(data, str) else "")
            continue
        assert isinstance(data, str)  # Ok: the record's data was base64 text
        body = base64.b64decode(data)
        try:
            expected = parse_event(body, stream)
        except InvalidEvent as exc:  # the ARN named another stream than the URL's: that one decides
            raise AssertionError(f"Ok for a body the contract refuses: {exc}") from exc
        line = base64.b64decode(out["data"]).decode()
        assert line.endswith("\n") and line.count("\n") == 1
        assert read_record(line.rstrip("\n")).to_event() == expected
