"""The OpenAPI document of the import API: generated from streams.json, checked in, valid, and
what the local API validates with; schemathesis drives the live local API against it."""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ingest.local.auth import signed_headers
from transforms import openapi
from transforms.streams import STREAM_NAMES, STREAMS


def test_the_checked_in_document_is_the_generated_one():
    assert openapi.OPENAPI_FILE.read_text(encoding="utf-8") == openapi.render()
    assert openapi.main(["--check"]) == 0


def test_check_fails_on_a_stale_document(tmp_path, capsys):
    stale = tmp_path / "openapi.json"
    stale.write_text(openapi.render().replace('"minimum": 1', '"minimum": 0'), encoding="utf-8")
    assert openapi.main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_the_document_is_valid_openapi_with_one_operation_per_stream():
    document = json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))
    validate(document)
    assert sorted(document["paths"]) == sorted(f"/v1/{name}" for name in STREAM_NAMES)
    for name in STREAM_NAMES:
        schema = document["components"]["schemas"][f"{STREAMS[name].model}Event"]
        assert "$ref" not in json.dumps(schema)  # API Gateway models cannot follow references
        assert schema["properties"]["stream"]["enum"] == [name]
        assert schema["properties"]["key"]["required"] == list(STREAMS[name].key_names)


class SignedAuth(requests.auth.AuthBase):
    """Signs the body exactly as it goes on the wire (the prepared request)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert isinstance(body, bytes), "the tests send bodies, not streams"
        request.headers.update(signed_headers(body, self.secret))
        return request


@pytest.fixture
def api_schema(live_server, local_firehose, settings):
    schema = schemathesis.openapi.from_path(openapi.OPENAPI_FILE)
    schema.config.update(base_url=live_server.url)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow  # a live server and 9 operations x 15 generated requests: about 30 s
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_local_api_conforms_to_the_document(case, settings):
    """No 5xx, and every answer (status, content type, body) is one the document describes."""
    response = case.call(auth=SignedAuth(settings.INGEST_API_SECRET), timeout=30)
    case.validate_response(
        response,
        transport_kwargs={"auth": SignedAuth(settings.INGEST_API_SECRET)},
        # The document's schemas are the envelope (what API Gateway checks); the transform's full
        # validation of "data", dates and ranges answers 400 for some schema-valid bodies, which
        # the document says (400 is one of its answers) but this check would call a failure.
        excluded_checks=[positive_data_acceptance],
    )
    assert response.status_code < 500
