"""``GET /metrics``: the Prometheus exposition, off unless ``INGEST_METRICS_ENABLED``.

A scraper authenticates with ``Authorization: Bearer <INGEST_METRICS_TOKEN>`` (compared in
constant time, as bytes: whatever the header holds is a 401 at worst, never an error); a staff
user logged in to the admin may look without it. Anyone else gets 401 (no 404 leak once enabled:
the endpoint's existence is no secret, its figures are).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from ingest.header_bytes import header_bytes
from ingest.services.observing.prometheus import exposition


def _bearer_ok(request: HttpRequest) -> bool:
    token = settings.INGEST_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    presented = header_bytes(value).strip(b" \t")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(presented, token.encode("utf-8"))


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.INGEST_METRICS_ENABLED:
        raise Http404("metrics are not enabled")
    user = getattr(request, "user", None)
    if not (_bearer_ok(request) or (user is not None and user.is_active and user.is_staff)):
        response = HttpResponse("metrics need a bearer token or a staff login\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
