"""A request header's value as the bytes it arrived as, for comparing secrets in constant time.

``hmac.compare_digest`` refuses str holding non-ASCII characters (a TypeError: a 500 that any
caller could raise), so secrets are compared as bytes. WSGI (PEP 3333) and Django's ASGI handler
decode header bytes as ISO-8859-1, which ``encode("latin-1")`` undoes exactly; a value beyond
that range (a test client, another adapter) is taken as UTF-8, a lone surrogate kept as it is.
"""

from __future__ import annotations


def header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
