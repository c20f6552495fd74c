"""``POST /v1/{stream}``: the import API of the System Two contract, served by Django for
development, feeding the in-process Kinesis → Firehose stand-in (``ingest.local.firehose``).

Answers, checked in this order (the first that applies wins):

====  ==========================================================================================
404   the API is disabled (``INGEST_LOCAL_API_ENABLED``), or ``{stream}`` is not one of the nine
405   a method other than POST
403   no credentials, or a wrong bearer token (see ``ingest.local.auth``)
413   a body over 1 MiB (by Content-Length, or by reading at most 1 MiB + 1 byte)
403   a wrong ``X-Signature`` (checked after the size: verifying means reading the whole body)
415   a Content-Type other than ``application/json`` (a missing one is accepted)
400   a body that is not a valid event of the stream (``transforms.events.parse_event``: the
      same validation the transform applies), with ``{"message": reason, "path": field}``
503   the stand-in is shutting down
200   ``{"sequenceNumber": "..."}`` once the record is in the stream's buffer
====  ==========================================================================================

Every error body is ``{"message": "..."}``. With ``INGEST_LOCAL_API_VALIDATE = False`` the 400
check is skipped and any body goes into the stream, like an event that got past a laxer gateway:
the transform then rejects it into the error output.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ingest.local import auth
from ingest.local.firehose import MAX_RECORD_BYTES, FirehoseClosed, get_firehose
from transforms.events import InvalidEvent, parse_event
from transforms.streams import STREAM_NAMES

MAX_BODY_BYTES = MAX_RECORD_BYTES


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"message": message, **extra}, status=status)


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


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

    secret = settings.INGEST_API_SECRET
    credentials = auth.credentials_of(request.META)
    if credentials is None:
        return _error(
            403,
            "missing credentials: send X-Signature: sha256=<HMAC-SHA256 of the body> or Authorization: Bearer <secret>",
        )
    if credentials.kind == "bearer" and not auth.bearer_ok(credentials, secret):
        return _error(403, "invalid credentials")

    length = _content_length(request)
    if length is None:
        return _error(400, "Content-Length is not a number")
    if length > MAX_BODY_BYTES:
        return _error(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")

    if credentials.kind == "signature" and not auth.signature_ok(credentials, body, secret):
        return _error(403, "invalid signature")

    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json":
        return _error(415, f"Content-Type must be application/json, got {content_type}")

    if settings.INGEST_LOCAL_API_VALIDATE:
        try:
            parse_event(body, stream)
        except InvalidEvent as exc:
            return _error(400, str(exc), path=exc.path)

    try:
        result = get_firehose().put_record(stream, body)
    except FirehoseClosed:
        return _error(503, "the local stream is shutting down; retry")
    return JsonResponse({"sequenceNumber": result.sequence_number})
