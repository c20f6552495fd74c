"""``POST /v1/{stream}``: the import API of the System Two contract, served by Django for
development, feeding the in-process Kinesis → Firehose stand-in (``ingest.local.firehose``).
The route exists only when ``INGEST_LOCAL_API_ENABLED`` is on (``website/urls.py``); the
OpenAPI document it follows (``infra/openapi.json``, from ``python -m transforms.openapi``) is
served at ``GET /v1/openapi.json``.

Answers, checked in this order (the first that applies wins):

====  ==========================================================================================
404   ``{stream}`` is not one of the nine (or the API is disabled)
405   a method other than POST
403   no ``X-Signature`` / ``X-Signature-Timestamp``, or a timestamp that is not unix seconds or
      is more than ``INGEST_API_SIGNATURE_TOLERANCE_SECONDS`` away from the clock
413   a body over 1 MiB (by Content-Length, or by reading at most 1 MiB + 1 byte)
403   a wrong signature (checked after the size: verifying means reading the whole body)
403   a replay: this signature was accepted before (``ingest.local.replay``)
415   a Content-Type other than ``application/json``; a request without one is read as JSON,
      as API Gateway does (but Django's development server, ``runserver``, reports a missing
      header as ``text/plain``: send the header there)
400   a body that is not an event of the stream: first the OpenAPI document's schema (what API
      Gateway checks), then ``transforms.events.parse_event`` (what the transform checks), with
      ``{"message": reason, "path": field}``
503   the replay cache (the database) is unavailable, or the stand-in is shutting down: retry
200   ``{"sequenceNumber": "..."}`` once the record is in the stream's buffer
====  ==========================================================================================

Every error body is ``{"message": "..."}``. With ``INGEST_LOCAL_API_VALIDATE = False`` the 400
check is skipped and any body goes into the stream, like an event that got past a laxer gateway:
the transform then rejects it into the error output.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from ingest.local import auth, replay
from ingest.local.firehose import MAX_RECORD_BYTES, FirehoseClosed, get_firehose
from transforms import json_objects, openapi
from transforms.events import InvalidEvent, parse_event
from transforms.json_objects import DuplicateKey
from transforms.streams import STREAM_NAMES

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = MAX_RECORD_BYTES


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"message": message, **extra}, status=status)


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


@functools.cache
def _validators() -> dict[str, Any]:
    """A draft 4 validator (API Gateway's dialect) per stream, from the checked-in document."""
    import jsonschema

    schemas = json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))["components"]["schemas"]
    return {stream: jsonschema.Draft4Validator(schemas[openapi.schema_name(stream)]) for stream in STREAM_NAMES}


def schema_error(body: bytes, stream: str) -> InvalidEvent | None:
    """Why the body fails the document's schema of ``stream`` (None if it passes, or is not JSON:
    ``parse_event`` then says why)."""
    try:
        value = json_objects.loads(body)
    except DuplicateKey as exc:  # last-wins would check another event than a first-wins reader sees
        return exc
    except (ValueError, RecursionError):
        return None
    error = next(iter(sorted(_validators()[stream].iter_errors(value), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        path.append(next(str(name) for name in error.validator_value if name not in error.instance))
        message = "is required"
    else:
        message = error.message
    return InvalidEvent(message, ".".join(path))


MISSING_CREDENTIALS = (
    f"missing credentials: send {auth.TIMESTAMP_HEADER}: <unix seconds> and "
    f'{auth.SIGNATURE_HEADER}: sha256=<HMAC-SHA256 of "{{timestamp}}.{{body}}">'
)


def _first_use(credentials: auth.Credentials) -> bool:
    tolerance = settings.INGEST_API_SIGNATURE_TOLERANCE_SECONDS
    expires = dt.datetime.fromtimestamp(float(credentials.timestamp) + tolerance, tz=dt.UTC)
    return replay.first_use(auth.replay_key(credentials), expires, dt.datetime.now(dt.UTC))


@csrf_exempt
def put_event(request: HttpRequest, stream: str) -> JsonResponse:
    if not settings.INGEST_LOCAL_API_ENABLED:
        return _error(404, "not found")
    if stream not in STREAM_NAMES:
        return _error(404, f"no stream {stream!r}; the streams are {', '.join(STREAM_NAMES)}")
    if request.method != "POST":
        response = _error(405, f"{request.method} is not allowed; POST one event")
        response["Allow"] = "POST"
        return response

    credentials = auth.credentials_of(request.META)
    if credentials is None:
        return _error(403, MISSING_CREDENTIALS)
    stale = auth.timestamp_error(credentials, time.time(), settings.INGEST_API_SIGNATURE_TOLERANCE_SECONDS)
    if stale:
        return _error(403, stale)

    length = _content_length(request)
    if length is None:
        return _error(400, "Content-Length is not a number")
    if length > MAX_BODY_BYTES:
        return _error(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")

    if not auth.signature_ok(credentials, body, settings.INGEST_API_SECRET):
        return _error(403, "invalid signature")
    try:
        first = _first_use(credentials)
    except DatabaseError:
        # Fail closed: without the replay cache a replay could not be told from a first use.
        logger.warning("local import API: the replay cache (database) is unavailable", exc_info=True)
        return _error(503, "the replay cache is unavailable; retry (signed afresh)")
    if not first:
        return _error(403, "replayed request: this signature was used before; sign every attempt afresh")

    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json":
        return _error(415, f"Content-Type must be application/json, got {content_type}")

    if settings.INGEST_LOCAL_API_VALIDATE:
        try:
            invalid = schema_error(body, stream)
            if invalid is not None:
                raise invalid
            parse_event(body, stream)
        except InvalidEvent as exc:
            return _error(400, str(exc), path=exc.path)

    try:
        result = get_firehose().put_record(stream, body)
    except FirehoseClosed:
        return _error(503, "the local stream is shutting down; retry")
    return JsonResponse({"sequenceNumber": result.sequence_number})


@require_GET
def openapi_document(request: HttpRequest) -> HttpResponse:
    if not settings.INGEST_LOCAL_API_ENABLED:
        raise Http404("the local import API is disabled")
    return HttpResponse(openapi.OPENAPI_FILE.read_bytes(), content_type="application/json")
