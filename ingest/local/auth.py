"""Credentials of the local import API: a signature with the shared secret ``INGEST_API_SECRET``.

A caller signs every request (Stripe-style)::

    X-Signature-Timestamp: <unix time in seconds: digits, optionally with up to 6 decimals>
    X-Signature: sha256=<hex HMAC-SHA256 of f"{timestamp}.{body}" keyed with the secret>

The secret never travels and the body cannot be altered; because the timestamp is signed, a
captured request is refused once it is older (or further in the future) than the tolerance,
and within the tolerance ``ingest.local.replay`` refuses it a second time. A retry is signed
afresh, with the current time. Sub-second timestamps let a client send the same body twice in
one second (System Two retries, the demo's duplicates) without it looking like a replay.

There is no bearer-token alternative: it would send the secret itself and could be replayed
for ever, which is the hole the signature closes. For curl, ``python -m ingest.local.auth
event.json`` prints the two headers as arguments::

    curl -i http://127.0.0.1:8000/v1/orders -H 'Content-Type: application/json' \\
        $(python -m ingest.local.auth event.json) --data-binary @event.json

The signature is compared in constant time; an empty secret accepts nobody.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.header_bytes import header_bytes

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
SIGNATURE_PREFIX = "sha256="
TIMESTAMP_RE = re.compile(r"\A[0-9]{1,12}(?:\.[0-9]{1,6})?\Z")


def signed_payload(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("utf-8") + b"." + body


def sign(body: bytes, secret: str, timestamp: str) -> str:
    """The ``X-Signature`` value for ``body`` sent with ``X-Signature-Timestamp: timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), signed_payload(timestamp, body), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def now_timestamp() -> str:
    """The current time as an ``X-Signature-Timestamp`` (microseconds)."""
    return f"{time.time():.6f}"


def signed_headers(body: bytes, secret: str, timestamp: str | None = None) -> dict[str, str]:
    """The two headers that sign ``body`` now (or at ``timestamp``)."""
    timestamp = timestamp or now_timestamp()
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(body, secret, timestamp)}


@dataclass(frozen=True)
class Credentials:
    signature: str
    timestamp: str


def credentials_of(meta: dict) -> Credentials | None:
    """The signature and timestamp a request presents (``request.META``), None if either is missing."""
    signature = meta.get("HTTP_X_SIGNATURE", "").strip()
    timestamp = meta.get("HTTP_X_SIGNATURE_TIMESTAMP", "").strip()
    if not signature or not timestamp:
        return None
    return Credentials(signature, timestamp)


def timestamp_error(credentials: Credentials, now: float, tolerance_seconds: float) -> str | None:
    """Why the timestamp is refused (not a number, or too far from ``now``), None if it is fine."""
    if not TIMESTAMP_RE.match(credentials.timestamp):
        return f"{TIMESTAMP_HEADER} must be unix seconds (digits, at most 6 decimals)"
    if abs(now - float(credentials.timestamp)) > tolerance_seconds:
        return f"{TIMESTAMP_HEADER} is more than {tolerance_seconds:g} s away from the server's clock; sign again"
    return None


def signature_ok(credentials: Credentials, body: bytes, secret: str) -> bool:
    if not secret:
        return False
    presented = credentials.signature
    if presented[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    expected = sign(body, secret, credentials.timestamp).encode("ascii")
    normalised = header_bytes(SIGNATURE_PREFIX + presented[len(SIGNATURE_PREFIX) :].lower())
    return hmac.compare_digest(normalised, expected)


def replay_key(credentials: Credentials) -> str:
    """What identifies one signed request in the replay cache: its (normalised) signature."""
    return credentials.signature[len(SIGNATURE_PREFIX) :].lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.local.auth",
        description="Print curl -H arguments that sign a request body for the local import API.",
    )
    parser.add_argument("body", type=Path, help="the file sent as the body (curl --data-binary @file)")
    parser.add_argument(
        "--secret",
        default=os.environ.get("INGEST_API_SECRET") or "local-development-secret",
        help="the shared secret (default: $INGEST_API_SECRET, else the local development secret)",
    )
    args = parser.parse_args(argv)
    headers = signed_headers(args.body.read_bytes(), args.secret)
    # No spaces and no quotes: the output is meant for an unquoted $(...) on a curl command line.
    sys.stdout.write(" ".join(f"-H {name}:{value}" for name, value in headers.items()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
