"""Fuzzing the local import API (``POST /v1/{stream}``) and ``/metrics``: bodies and headers.

Property: never a 5xx (no traceback reaches a caller); a signed, valid event of the URL's stream
is a 200 and anything else a 4xx."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.local.auth import SIGNATURE_PREFIX, sign
from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import mutated_json, nasty_bytes
from tests.transforms.strategies import event_bodies
from transforms.events import InvalidEvent, parse_event
from transforms.streams import STREAM_NAMES

pytestmark = [pytest.mark.usefixtures("local_firehose"), pytest.mark.django_db]

LATIN1 = st.text(st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=80)


def accepted(body: bytes, stream: str) -> bool:
    try:
        parse_event(body, stream)
    except InvalidEvent:
        return False
    return True


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    stream = draw(st.sampled_from(STREAM_NAMES))
    kind = draw(st.sampled_from(["valid", "mutated", "other-stream", "garbage"]))
    if kind == "garbage":
        return stream, draw(st.binary(max_size=300) | nasty_bytes)
    event, body = draw(event_bodies(stream if kind != "other-stream" else None))
    if kind == "mutated":
        body = draw(mutated_json(event))
    return stream, body


@budget(2)
@given(case=bodies())
def test_any_signed_body_is_a_200_or_a_4xx(client, settings, case):
    count("import API: body")
    stream, body = case
    timestamp = f"{time.time():.6f}"
    headers = {"X-Signature-Timestamp": timestamp, "X-Signature": sign(body, settings.INGEST_API_SECRET, timestamp)}
    response = client.post(f"/v1/{stream}", data=body, content_type="application/json", headers=headers)
    assert response.status_code < 500, response.content[:500]
    if accepted(body, stream):
        assert response.status_code == 200, response.content[:500]
    else:
        assert 400 <= response.status_code < 500
        assert "message" in json.loads(response.content)


@st.composite
def header_sets(draw: st.DrawFn) -> dict[str, str]:
    now = f"{time.time():.6f}"
    timestamp = draw(st.sampled_from([now, "", "1e9", "-1", "99999999999999", now + "0"]) | LATIN1)
    signature = draw(st.sampled_from([SIGNATURE_PREFIX + "0" * 64, "sha256=", "SHA256=zz", ""]) | LATIN1)
    headers = {"HTTP_X_SIGNATURE_TIMESTAMP": timestamp, "HTTP_X_SIGNATURE": signature}
    if draw(st.booleans()):
        headers["CONTENT_TYPE"] = draw(st.sampled_from(["application/json", "text/plain", ""]) | LATIN1)
    if draw(st.booleans()):
        headers["CONTENT_LENGTH"] = draw(st.sampled_from(["-1", "abc", "99999999999", "0"]) | LATIN1)
    return headers


@budget(1.5)
@given(headers=header_sets(), stream=st.sampled_from([*STREAM_NAMES, "nope", "orders%00", "..%2f"]))
def test_any_headers_are_answered_without_a_5xx(client, headers, stream):
    count("import API: headers")
    meta = {k: v for k, v in headers.items() if k != "CONTENT_TYPE"}
    content_type = headers.get("CONTENT_TYPE", "application/json")
    response = client.generic("POST", f"/v1/{stream}", b'{"a": 1}', content_type, **meta)
    assert response.status_code < 500, response.content[:500]
    assert response.status_code in {400, 403, 404, 413, 415}


@budget(1)
@given(authorization=LATIN1 | st.sampled_from(["Bearer", "Bearer \xff", "bearer  x", "Basic Zm9v"]))
def test_metrics_answers_any_authorization_without_a_5xx(client, settings, authorization):
    count("metrics: Authorization")
    settings.INGEST_METRICS_ENABLED = True
    settings.INGEST_METRICS_TOKEN = "fuzz-token-" + "x1y2z3" * 6
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
