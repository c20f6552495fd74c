"""Sending the demo's events to the local import API: a signed keep-alive client, several senders."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ingest.local.auth import signed_headers

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 30.0
# How long a 503 (the API's database restarting, the stream busy) is retried before it counts.
RETRY_503_SECONDS = 60.0


@dataclass
class SendStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    http_errors: int = 0
    reasons: Counter = field(default_factory=Counter)
    rejected_bodies: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def request_of(event: dict) -> tuple[str, bytes]:
    """(URL stream, body) of a generated event: the markers the generator adds are not sent."""
    stream = event.get("_url_stream", event.get("stream"))
    body = {k: v for k, v in event.items() if not k.startswith("_")}
    return str(stream), json.dumps(body, ensure_ascii=False).encode("utf-8")


class ApiClient:
    """One keep-alive HTTP connection per thread to the local import API, requests signed."""

    def __init__(self, host: str, port: int, secret: str) -> None:
        self.host, self.port, self.secret = host, port, secret
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_SECONDS)
            conn.connect()
            # http.client sends headers and body in separate writes (see QuietHandler.setup).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def post(self, stream: str, body: bytes) -> tuple[int, dict]:
        """POST one event; a 503 (the API's database or stream briefly unavailable) is retried
        for up to RETRY_503_SECONDS, as System Two retries, each attempt signed afresh."""
        deadline = time.monotonic() + RETRY_503_SECONDS
        pause = 0.1
        while True:
            status, payload = self._post_once(stream, body)
            if status != 503 or time.monotonic() + pause > deadline:
                return status, payload
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _post_once(self, stream: str, body: bytes) -> tuple[int, dict]:
        for attempt in (1, 2):
            # Signed per attempt: a signature is accepted once, within its timestamp's tolerance.
            headers = {"Content-Type": "application/json", **signed_headers(body, self.secret)}
            conn = self._connection()
            try:
                conn.request("POST", f"/v1/{stream}", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return response.status, _json_or_text(payload)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed a kept-alive connection: one retry on a fresh one.
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _json_or_text(payload: bytes) -> dict:
    """The API's JSON answer; anything else (a server error page) as {"message": text}."""
    try:
        value = json.loads(payload or b"{}")
    except ValueError:
        return {"message": payload[:500].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"message": str(value)}


def send_events(client: ApiClient, events: list[dict], stats: SendStats, senders: int) -> None:
    def send(event: dict) -> None:
        stream, body = request_of(event)
        try:
            status, payload = client.post(stream, body)
        except OSError as exc:
            logger.warning("demo: POST /v1/%s failed: %s", stream, exc)
            status, payload = 0, {}
        with stats.lock:
            stats.sent += 1
            if status == 200:
                stats.accepted += 1
            elif status == 400:
                stats.rejected += 1
                stats.reasons[event.get("_invalid") or "invalid"] += 1
                stats.rejected_bodies.append((stream, body))
            else:
                stats.http_errors += 1
                logger.warning("demo: POST /v1/%s answered %s: %s", stream, status, payload)

    with ThreadPoolExecutor(max_workers=max(1, senders), thread_name_prefix="demo-sender") as pool:
        list(pool.map(send, events))
