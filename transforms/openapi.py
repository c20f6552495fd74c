"""The OpenAPI document of the import API, ``POST /v1/{stream}``, generated from ``streams.json``.

One document describes the API wherever it runs: Terraform builds API Gateway's request
models from its schemas (``infra/modules/ingest_pipeline/locals.tf``), the local API
(``ingest.local.api``) validates bodies against the same schemas and serves the document at
``GET /v1/openapi.json``, and schemathesis tests the local API against it.

    python -m transforms.openapi            # rewrite infra/openapi.json
    python -m transforms.openapi --check    # exit 1 if infra/openapi.json is not up to date

The request schemas check the contract's envelope only (the subset of JSON Schema that both
OpenAPI 3.1 and API Gateway's draft 4 models read: no ``$ref``, no ``nullable``); the transform
(``transforms.events.parse_event``) does the full validation of ``data``. They are never
stricter than the transform: the patterns below accept every eventId and occurredAt it accepts.
Output is deterministic (sorted keys, streams in file order), so the checked-in file is
compared byte for byte. Standard library only, like the rest of ``transforms``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from transforms.events import UUID_RE
from transforms.streams import MAX_KEY_LENGTH, STREAMS

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "infra" / "openapi.json"

EVENT_ID_PATTERN = "^" + UUID_RE.pattern + "$"
# RFC 3339 as transforms.events.parse_timestamp reads it, with the field ranges it enforces (so
# that generated examples are mostly valid); day-of-month and the years 1-9999 in UTC stay its job.
_YEAR = "([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_DATE = _YEAR + "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
TIMESTAMP_PATTERN = "^" + _DATE + "[Tt ]" + _TIME + r"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
KEY_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "code": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "int": {"type": "integer"},
}
ENVELOPE_REQUIRED = ["eventId", "stream", "eventType", "occurredAt", "version", "key"]

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"


def schema_name(stream: str) -> str:
    """The component (and API Gateway model) name of a stream's event: alphanumeric."""
    return f"{STREAMS[stream].model}Event"


def event_schema(stream: str) -> dict[str, Any]:
    spec = STREAMS[stream]
    return {
        "title": f"{spec.model} event (stream {stream})",
        "type": "object",
        "required": list(ENVELOPE_REQUIRED),
        "properties": {
            "eventId": {"type": "string", "pattern": EVENT_ID_PATTERN},
            "stream": {"type": "string", "enum": [stream]},
            "eventType": {"type": "string", "enum": ["upsert", "delete"]},
            "occurredAt": {"type": "string", "pattern": TIMESTAMP_PATTERN},
            "version": {"type": "integer", "minimum": 1},
            "key": {
                "type": "object",
                "required": [f.name for f in spec.key],
                "properties": {f.name: dict(KEY_FIELD_SCHEMAS[f.type]) for f in spec.key},
            },
            "data": {"type": ["object", "null"]},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


RESPONSES: dict[str, dict[str, Any]] = {
    "200": {
        "description": "The event is stored in the stream; its Kinesis sequence number.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stored"}}},
    },
    "400": _error("The body is not an event of this stream (message names the field in path)."),
    "403": _error("Missing or invalid credentials, a timestamp out of tolerance, or a replayed request."),
    "413": _error("The body is larger than 1 MiB."),
    "415": _error("A Content-Type other than application/json (a missing one is read as JSON)."),
    "429": _error("Throttled (API Gateway); retry later."),
    "500": _error("The event could not be stored (API Gateway); retry."),
    "503": _error("The stream is busy or unavailable; retry later."),
}


def document() -> dict[str, Any]:
    paths = {}
    for stream, spec in STREAMS.items():
        paths[f"/v1/{stream}"] = {
            "post": {
                "operationId": f"put{schema_name(stream)}",
                "summary": f"Send one event of the {stream} stream ({spec.model})",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schema_name(stream))}},
                },
                "responses": RESPONSES,
            }
        }
    schemas: dict[str, Any] = {schema_name(stream): event_schema(stream) for stream in STREAMS}
    schemas["Stored"] = {
        "type": "object",
        "required": ["sequenceNumber"],
        "properties": {"sequenceNumber": {"type": "string", "pattern": "^[0-9]+$"}},
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "path": {"type": "string", "description": "the field at fault (dotted), empty for the whole body"},
            "requestId": {"type": "string", "description": "API Gateway's request id"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "System Two import API",
            "version": "1",
            "description": (
                "One System Two event per request (../shared/contracts/system-two-events.md), generated "
                "from transforms/streams.json by `python -m transforms.openapi`. On AWS (API Gateway) "
                "requests are signed with SigV4 by System Two's IAM role; the local development API "
                "instead takes X-Signature-Timestamp (unix seconds) and X-Signature: "
                'sha256=<HMAC-SHA256 of "{timestamp}.{body}" with INGEST_API_SECRET>.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (API Gateway, authorization AWS_IAM)",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": SIGNATURE_HEADER,
                    "description": 'Local API: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">',
                },
                "signatureTimestamp": {
                    "type": "apiKey",
                    "in": "header",
                    "name": TIMESTAMP_HEADER,
                    "description": "Local API: unix seconds (up to 6 decimals), within the tolerance",
                },
            },
        },
        "security": [{"sigv4": []}, {"signature": [], "signatureTimestamp": []}],
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file differs from the generated document")
    parser.add_argument("--output", type=Path, default=OPENAPI_FILE)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.output} is out of date: run python -m transforms.openapi\n")
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
