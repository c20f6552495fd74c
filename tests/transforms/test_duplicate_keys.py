"""A key given twice in one JSON object is refused by every reader of an event, naming the key:
``json.loads`` keeps the last value, a gateway or another reader may keep the first, so the same
body would be two different events (one helper: transforms.json_objects)."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.testing.samples import checked, order_event
from transforms.events import InvalidEvent, parse_event
from transforms.handler import lambda_handler
from transforms.json_objects import DuplicateKey, loads, reject_json_constant, unique_object
from transforms.system_one.reader import read_record
from transforms.system_one.writer import write_record

ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/prod-orders"


def with_duplicate(where: str) -> bytes:
    """A valid orders event with one key repeated (the second value differs) at ``where``."""
    text = json.dumps(checked(order_event("SO-DUP")))
    if where == "envelope":
        return text.replace('"version": 1,', '"version": 1, "version": 2,').encode()
    if where == "data":
        return text.replace('"status": "OPEN"', '"status": "OPEN", "status": "CLOSED"').encode()
    if where == "key":
        return text.replace(
            '"key": {"orderNumber": "SO-DUP"}', '"key": {"orderNumber": "SO-DUP", "orderNumber": "SO-X"}'
        ).encode()
    if where == "extra":
        return text.replace('"rush": false', '"rush": false, "segment": {"tier": 1, "tier": 2}').encode()
    raise AssertionError(where)


DUPLICATED = {"envelope": "version", "data": "status", "key": "orderNumber", "extra": "tier"}


def test_the_helper_names_the_key_and_keeps_ordinary_json():
    with pytest.raises(DuplicateKey, match="duplicate key 'a'") as caught:
        loads('{"b": 1, "a": 1, "c": {"a": 2}, "a": 3}')
    assert caught.value.key == "a" and isinstance(caught.value, InvalidEvent)
    assert loads('{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}') == {"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}


@pytest.mark.parametrize("where", list(DUPLICATED))
def test_parse_event_refuses_a_duplicate_key(where):
    body = with_duplicate(where)
    json.loads(body)  # plain JSON takes it (last value wins): the contract's reader must not
    with pytest.raises(InvalidEvent, match=f"duplicate key '{DUPLICATED[where]}'"):
        parse_event(body, "orders")


@pytest.mark.parametrize("where", list(DUPLICATED))
def test_the_transform_fails_the_record_naming_the_key(where, caplog):
    good = json.dumps(checked(order_event("SO-OK"))).encode()
    records = [
        {"recordId": "1", "data": base64.b64encode(with_duplicate(where)).decode()},
        {"recordId": "2", "data": base64.b64encode(good).decode()},
    ]
    with caplog.at_level(logging.WARNING, logger="transforms.handler"):
        answer = lambda_handler({"deliveryStreamArn": ARN, "records": records})
    assert [r["result"] for r in answer["records"]] == ["ProcessingFailed", "Ok"]
    assert answer["records"][0]["data"] == records[0]["data"]  # the body kept as it came, for redrive
    assert f"duplicate key '{DUPLICATED[where]}'" in caplog.text


def test_the_reader_refuses_a_duplicate_key_in_an_extra():
    line = write_record(checked(order_event("SO-X", segment={"tier": 1}))).rstrip("\n")
    assert '+segment={"tier":1}' in line
    with pytest.raises(ValueError, match="duplicate key 'tier'"):
        read_record(line.replace('+segment={"tier":1}', '+segment={"tier":1,"tier":2}'))


def _outcome(read, text):
    try:
        return "ok", read(text)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _stdlib(text):
    return json.loads(text, parse_constant=reject_json_constant, object_pairs_hook=unique_object)


@given(
    st.one_of(
        st.text(),
        st.binary(),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        ).map(json.dumps),
        st.sampled_from(["\ufeff{}", '{"a":1,"a":2}', "[NaN]", "[-Infinity]", '"\\ud800"', " 1 ", "{"]),
    ).flatmap(lambda s: st.sampled_from([s, s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s]))
)
def test_loads_reads_and_refuses_exactly_as_json_loads_with_the_same_hooks(text):
    """``loads`` keeps one decoder for every call; what it gives or raises is ``json.loads``'s."""
    assert _outcome(loads, text) == _outcome(_stdlib, text)


@pytest.mark.parametrize("text", ['{"a":1}'.encode("utf-16"), '{"a":1}'.encode("utf-32"), bytearray(b"[2]"), 5, None])
def test_loads_takes_what_json_loads_takes(text):
    assert _outcome(loads, text) == _outcome(_stdlib, text)
