"""Query parameters the database cannot take are the caller's error (400), not a 500.

A request whose query string holds U+0000 (``%00``) is refused before any view runs: PostgreSQL's
text cannot hold NUL, so a search or filter value with one (the admin's ``q=``, a changelist
filter) raised a DataError that any logged-in user could provoke, and no parameter of this site
has a use for NUL. A filter value out of its column's range (``line_number__exact=1e20`` as
digits: SQLite's OverflowError, PostgreSQL's "out of range") reaches the database before anyone
can tell; when a request with query parameters fails that way, the answer is a 400 as well."""

from __future__ import annotations

from collections.abc import Callable

from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RefuseNulInQuery:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return HttpResponseBadRequest("a query parameter holds U+0000 (NUL), which no parameter takes\n")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.GET and isinstance(exception, OverflowError | DataError):
            return HttpResponseBadRequest(f"a query parameter is out of range for the database: {exception}\n")
        return None
