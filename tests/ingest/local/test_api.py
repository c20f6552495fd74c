"""``POST /v1/{stream}``, the local import API: every answer of the contract, and what reaches S3
through the Firehose stand-in (real transform, real moto S3)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from ingest.local.api import MAX_BODY_BYTES
from ingest.local.auth import TIMESTAMP_HEADER, now_timestamp, sign, signed_headers
from ingest.local.firehose import get_firehose
from ingest.models import SeenSignature
from ingest.testing.aws import keys, read_gzip
from ingest.testing.samples import checked, order_event
from transforms.system_one.writer import write_record

pytestmark = [pytest.mark.usefixtures("local_firehose"), pytest.mark.django_db]


def post(
    client,
    settings,
    stream: str,
    body: bytes,
    *,
    auth: str = "signature",
    content_type="application/json",
    timestamp: str | None = None,
):
    headers = signed_headers(body, settings.INGEST_API_SECRET, timestamp) if auth == "signature" else {}
    return client.post(f"/v1/{stream}", data=body, content_type=content_type, headers=headers)


def encode(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_200_answers_a_sequence_number_and_the_event_lands_in_s3(client, settings, s3, bucket):
    event = checked(order_event("SO-200"))
    response = post(client, settings, "orders", encode(event))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"sequenceNumber"}
    assert payload["sequenceNumber"].isdigit()

    get_firehose().flush()
    [key] = keys(s3, bucket, "orders/")
    assert read_gzip(s3, bucket, key) == write_record(event).encode()


def test_sequence_numbers_grow(client, settings):
    first = post(client, settings, "orders", encode(order_event("SO-1"))).json()["sequenceNumber"]
    second = post(client, settings, "orders", encode(order_event("SO-2"))).json()["sequenceNumber"]
    assert int(second) > int(first)


def test_a_bearer_token_is_not_credentials(client, settings):
    """The secret itself is no longer accepted: it could be replayed for ever."""
    response = client.post(
        "/v1/orders",
        data=encode(order_event()),
        content_type="application/json",
        headers={"Authorization": f"Bearer {settings.INGEST_API_SECRET}"},
    )
    assert response.status_code == 403
    assert "credentials" in response.json()["message"]


def test_a_charset_parameter_is_fine(client, settings):
    response = post(client, settings, "orders", encode(order_event()), content_type="application/json; charset=utf-8")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (encode(order_event(subtotal=12.5)), "data.subtotal"),
        (encode({**order_event(), "version": 0}), "version"),
        (encode({**order_event(), "stream": "customers"}), "stream"),
        (b'{"eventId": ', ""),
        (b"[1, 2]", ""),
        ("é".encode("latin-1"), ""),
    ],
)
def test_400_for_a_body_that_is_not_an_event_of_the_stream(client, settings, body, path):
    response = post(client, settings, "orders", body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["message"]
    assert payload["path"] == path
    if path:
        assert payload["message"].startswith(path)
    assert get_firehose().pending() == 0


def test_403_without_credentials(client, settings):
    response = post(client, settings, "orders", encode(order_event()), auth="none")
    assert response.status_code == 403
    assert "credentials" in response.json()["message"]
    assert get_firehose().pending() == 0


def signed_post(client, body: bytes, headers: dict, content_type="application/json"):
    return client.post("/v1/orders", data=body, content_type=content_type, headers=headers)


def test_403_for_a_bad_signature(client, settings):
    body = encode(order_event())
    ts = now_timestamp()
    secret = settings.INGEST_API_SECRET
    for signature in (
        sign(body, "another-secret", ts),
        sign(body + b" ", secret, ts),  # the signature of another body
        sign(body, secret, str(int(float(ts)) - 1)),  # of another timestamp
        hmac_of(body, secret),  # of the body alone: the timestamp is not covered
        "md5=" + sign(body, secret, ts)[len("sha256=") :],
        "sha256=",
        "sha256=zz",
        "sha256=é",
    ):
        response = signed_post(client, body, {"X-Signature": signature, TIMESTAMP_HEADER: ts})
        assert response.status_code == 403, signature
        assert response.json()["message"] == "invalid signature"
    assert get_firehose().pending() == 0


def hmac_of(body: bytes, secret: str) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_signature_is_case_insensitive_hex(client, settings):
    body = encode(order_event())
    ts = now_timestamp()
    signature = "SHA256=" + sign(body, settings.INGEST_API_SECRET, ts)[len("sha256=") :].upper()
    response = signed_post(client, body, {"X-Signature": signature, TIMESTAMP_HEADER: ts})
    assert response.status_code == 200


def test_403_without_a_timestamp(client, settings):
    body = encode(order_event())
    ts = now_timestamp()
    response = signed_post(client, body, {"X-Signature": sign(body, settings.INGEST_API_SECRET, ts)})
    assert response.status_code == 403
    assert "credentials" in response.json()["message"]


@pytest.mark.parametrize(
    "timestamp", ["yesterday", "-5", "1e9", "0x10", "1733.1234567", "1733.", "\uff11\uff12\uff13", "nan"]
)
def test_403_for_a_timestamp_that_is_not_unix_seconds(client, settings, timestamp):
    body = encode(order_event())
    response = post(client, settings, "orders", body, timestamp=timestamp)
    assert response.status_code == 403
    assert response.json()["message"].startswith(TIMESTAMP_HEADER)


@pytest.mark.parametrize("beyond", [-5, 5, -86400])
def test_403_for_a_timestamp_outside_the_tolerance(client, settings, beyond):
    """A captured request stops working once it is older than the tolerance (or from the future).
    A few seconds past it: whole seconds and a loaded machine's delay must not bring it back inside."""
    tolerance = settings.INGEST_API_SIGNATURE_TOLERANCE_SECONDS
    offset = beyond + (tolerance if beyond > 0 else -tolerance)
    body = encode(order_event())
    response = post(client, settings, "orders", body, timestamp=str(int(time.time()) + offset))
    assert response.status_code == 403
    assert "away from the server's clock" in response.json()["message"]
    assert get_firehose().pending() == 0


def test_the_tolerance_is_a_setting(client, settings):
    settings.INGEST_API_SIGNATURE_TOLERANCE_SECONDS = 3600
    body = encode(order_event())
    assert post(client, settings, "orders", body, timestamp=str(int(time.time()) - 1800)).status_code == 200
    settings.INGEST_API_SIGNATURE_TOLERANCE_SECONDS = 10
    body = encode(order_event())
    assert post(client, settings, "orders", body, timestamp=str(int(time.time()) - 60)).status_code == 403


def test_integer_and_decimal_timestamps_are_accepted(client, settings):
    for ts in (str(int(time.time())), f"{time.time():.3f}", now_timestamp()):
        assert post(client, settings, "orders", encode(order_event()), timestamp=ts).status_code == 200, ts


def test_403_for_a_replayed_request(client, settings):
    body = encode(order_event())
    headers = signed_headers(body, settings.INGEST_API_SECRET)
    assert signed_post(client, body, headers).status_code == 200
    replayed = signed_post(client, body, headers)
    assert replayed.status_code == 403
    assert replayed.json()["message"].startswith("replayed request")
    # the same signature with another case of hex is the same request
    upper = {**headers, "X-Signature": "SHA256=" + headers["X-Signature"][len("sha256=") :].upper()}
    assert signed_post(client, body, upper).status_code == 403
    # signed again (a new timestamp), the same body is a new request
    assert post(client, settings, "orders", body).status_code == 200
    assert get_firehose().pending() == 2


def test_the_replay_cache_is_in_the_database_and_forgets_expired_signatures(client, settings):
    """Every gunicorn worker must see the signatures the others accepted: they live in a table,
    and a row goes once its timestamp is out of the tolerance anyway."""
    body = encode(order_event())
    headers = signed_headers(body, settings.INGEST_API_SECRET)
    assert signed_post(client, body, headers).status_code == 200
    [seen] = SeenSignature.objects.all()
    assert seen.signature == headers["X-Signature"][len("sha256=") :]
    expected_expiry = float(headers[TIMESTAMP_HEADER]) + settings.INGEST_API_SIGNATURE_TOLERANCE_SECONDS
    assert abs(seen.expires_at.timestamp() - expected_expiry) < 0.001
    SeenSignature.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert post(client, settings, "orders", encode(order_event())).status_code == 200
    assert not SeenSignature.objects.filter(signature=seen.signature).exists()
    assert SeenSignature.objects.count() == 1


def test_403_when_no_secret_is_configured(client, settings):
    settings.INGEST_API_SECRET = ""
    body = encode(order_event())
    response = signed_post(client, body, signed_headers(body, ""))
    assert response.status_code == 403


def test_404_for_an_unknown_stream(client, settings):
    response = post(client, settings, "payments", encode(order_event()))
    assert response.status_code == 404
    assert "orders" in response.json()["message"]  # names the streams there are


def test_404_when_the_local_api_is_disabled(client, settings):
    settings.INGEST_LOCAL_API_ENABLED = False
    response = post(client, settings, "orders", encode(order_event()))
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_405_for_anything_but_post(client, settings, method):
    response = getattr(client, method)("/v1/orders")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_413_over_one_mib(client, settings):
    body = b" " * (MAX_BODY_BYTES + 1)
    response = post(client, settings, "orders", body)
    assert response.status_code == 413
    assert get_firehose().pending() == 0


def test_exactly_one_mib_is_accepted(client, settings, s3, bucket):
    event = order_event("SO-BIG")
    skeleton = encode({**event, "note": ""})
    event["note"] = "x" * (MAX_BODY_BYTES - len(skeleton))  # an unknown extra: carried, not an error
    body = encode(event)
    assert len(body) == MAX_BODY_BYTES
    response = post(client, settings, "orders", body)
    assert response.status_code == 200


def test_415_for_another_content_type(client, settings):
    response = post(client, settings, "orders", encode(order_event()), content_type="text/plain")
    assert response.status_code == 415


def test_a_missing_content_type_is_read_as_json(client, settings):
    """As API Gateway does (and as the module's table says): a server passes no CONTENT_TYPE."""
    body = encode(order_event())
    headers = signed_headers(body, settings.INGEST_API_SECRET)
    response = client.generic("POST", "/v1/orders", data=body, headers=headers, CONTENT_TYPE="")
    assert response.status_code == 200
    assert get_firehose().pending() == 1


def test_checks_run_in_the_documented_order(client, settings):
    huge = b" " * (MAX_BODY_BYTES + 1)
    secret = settings.INGEST_API_SECRET
    # 404 before 405 and 403
    assert client.get("/v1/payments").status_code == 404
    # 405 before 403
    assert client.get("/v1/orders").status_code == 405
    # 403 (no credentials, or a stale timestamp) before 413
    assert post(client, settings, "orders", huge, auth="none").status_code == 403
    stale = str(int(time.time()) - 3600)
    assert post(client, settings, "orders", huge, timestamp=stale).status_code == 403
    # 413 before checking a signature (that would mean reading the whole body)
    response = signed_post(client, huge, signed_headers(b"", "wrong"))
    assert response.status_code == 413
    # 403 before 415 and 400
    response = signed_post(client, b"nonsense", signed_headers(b"nonsense", "wrong"), content_type="text/plain")
    assert response.status_code == 403
    # a replay is refused before 415 and 400 are looked at
    headers = signed_headers(b"nonsense", secret)
    assert signed_post(client, b"nonsense", headers, content_type="text/plain").status_code == 415
    assert signed_post(client, b"nonsense", headers, content_type="text/plain").status_code == 403
    # 415 before 400
    assert post(client, settings, "orders", b"nonsense", content_type="text/plain").status_code == 415


def error_documents(s3, bucket: str, stream: str) -> list[dict]:
    docs = []
    for key in keys(s3, bucket, f"errors/{stream}/processing-failed/"):
        docs += [json.loads(line) for line in read_gzip(s3, bucket, key).decode().splitlines()]
    return docs


def test_an_event_the_transform_rejects_ends_in_the_error_output(client, settings, s3, bucket):
    """With the API's validation off (an event that got past a laxer gateway), the record reaches
    the stream; the transform rejects it, and it lands under errors/, not nowhere."""
    settings.INGEST_LOCAL_API_VALIDATE = False
    bad = encode(order_event("SO-BAD", subtotal=12.5))
    good_event = checked(order_event("SO-GOOD"))

    assert post(client, settings, "orders", bad).status_code == 200
    assert post(client, settings, "orders", encode(good_event)).status_code == 200
    get_firehose().flush()

    [data_key] = keys(s3, bucket, "orders/")
    assert read_gzip(s3, bucket, data_key) == write_record(good_event).encode()
    [doc] = error_documents(s3, bucket, "orders")
    assert base64.b64decode(doc["rawData"]) == bad
    assert doc["errorCode"] == "Lambda.ProcessingFailed"


def test_a_record_put_straight_into_the_stream_is_not_lost_either(s3, bucket):
    """The lower-level entry point: Kinesis PutRecord, as if a record got into Kinesis some other way."""
    firehose = get_firehose()
    wrong_stream = encode({**order_event("SO-X"), "stream": "orders"})  # an orders event on the customers stream
    not_json = b"\x00\xffnot json"
    firehose.put_record("customers", wrong_stream)
    firehose.put_record("customers", not_json)
    firehose.flush()

    assert keys(s3, bucket, "customers/") == []
    docs = error_documents(s3, bucket, "customers")
    assert sorted(base64.b64decode(d["rawData"]) for d in docs) == sorted([wrong_stream, not_json])


def test_400_from_the_openapi_schema_names_the_field(client, settings):
    """The document's schema (what API Gateway checks) answers first, in the same shape."""
    event = order_event()
    del event["key"]["orderNumber"]
    response = post(client, settings, "orders", encode(event))
    assert response.status_code == 400
    assert response.json() == {"message": "key.orderNumber: is required", "path": "key.orderNumber"}
    response = post(client, settings, "orders", encode({**order_event(), "eventType": "update"}))
    assert response.status_code == 400
    assert response.json()["path"] == "eventType"


def test_the_openapi_document_is_served(client, settings):
    from transforms.openapi import OPENAPI_FILE

    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == OPENAPI_FILE.read_bytes()


@pytest.mark.django_db(transaction=True)
def test_503_when_the_replay_cache_is_unavailable(client, settings):
    """Fail closed: without its table the API cannot tell a replay, so it asks for a retry."""
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.delete_model(SeenSignature)
    try:
        response = post(client, settings, "orders", encode(order_event()))
        assert response.status_code == 503
        assert "replay cache" in response.json()["message"]
        assert get_firehose().pending() == 0
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(SeenSignature)
    assert post(client, settings, "orders", encode(order_event())).status_code == 200
