"""Credentials of the local import API: the shared secret ``settings.INGEST_API_SECRET``.

A caller proves it knows the secret in one of two ways:

- ``X-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw request body keyed with the secret
  (what System Two should use: the secret never travels, and the body cannot be altered);
- ``Authorization: Bearer <secret>``, the secret itself (handy with curl on a developer machine).

Both are compared in constant time. An empty secret accepts nobody.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The ``X-Signature`` value for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credentials:
    kind: str  # "signature" or "bearer"
    value: str


def credentials_of(meta: dict) -> Credentials | None:
    """The credentials a request presents (its WSGI environ / ``request.META``), None without any.
    A signature wins over a bearer token when both are sent."""
    signature = meta.get("HTTP_X_SIGNATURE", "").strip()
    if signature:
        return Credentials("signature", signature)
    authorization = meta.get("HTTP_AUTHORIZATION", "").strip()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return Credentials("bearer", token.strip())
    return None


def bearer_ok(credentials: Credentials, secret: str) -> bool:
    if not secret:
        return False
    return hmac.compare_digest(credentials.value.encode("utf-8"), secret.encode("utf-8"))


def signature_ok(credentials: Credentials, body: bytes, secret: str) -> bool:
    if not secret:
        return False
    presented = credentials.value
    if presented[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    expected = sign(body, secret).encode("ascii")
    normalised = (SIGNATURE_PREFIX + presented[len(SIGNATURE_PREFIX) :].lower()).encode("utf-8")
    return hmac.compare_digest(normalised, expected)
