"""A fault-injecting HTTP forwarder for the chaos tests: it sits between a process and moto and,
when told to, answers like an unwell AWS instead of forwarding.

Modes (``FaultProxy.set_mode``):

* ``pass``: forward the request, return moto's answer unchanged.
* ``error``: answer ``status`` (500 or 503) with an S3 XML error body (``InternalError`` /
  ``ServiceUnavailable``) without forwarding; botocore treats both as retryable.
* ``delay``: wait ``delay`` seconds, then forward (a slow S3; past the client's read timeout
  the client gives up first).
* ``reset``: read the request, then close the connection with an RST (SO_LINGER 0): "connection
  reset by peer" before any response.
* ``truncate``: forward, send the headers and half of the body, then RST: a download that breaks
  half-way through the object.

Every request answered in a mode other than ``pass`` counts as one fault of that mode
(``faults``). ``only`` limits the faults to requests whose method is in it (e.g. S3 ``GET``s),
the others pass. Standard library only, one thread per connection, keep-alive supported.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MODES = ("pass", "error", "delay", "reset", "truncate")
ERROR_CODES = {500: "InternalError", 503: "ServiceUnavailable"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}
UPSTREAM_TIMEOUT_SECONDS = 60.0


def s3_error_body(status: int) -> bytes:
    code = ERROR_CODES.get(status, "InternalError")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by the chaos proxy</Message>"
        "<RequestId>CHAOS</RequestId><HostId>chaos</HostId></Error>"
    ).encode()


@dataclass(frozen=True)
class Fault:
    mode: str = "pass"
    status: int = 503
    delay: float = 0.0
    only: frozenset[str] = frozenset()  # HTTP methods the fault applies to; empty: all


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: the peer sees ECONNRESET."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            upstream.close()

    def _respond(self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes, *, cut: bool) -> None:
        self.send_response_only(status, reason)
        head = self.command == "HEAD"  # its Content-Length is the object's, and no body follows
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and (head or name.lower() != "content-length"):
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if head:
            return
        if cut:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            _reset(self.connection)
            return
        self.wfile.write(payload)

    def _handle(self) -> None:
        body = self._body()
        fault = self.server.proxy.fault
        if fault.mode != "pass" and (not fault.only or self.command in fault.only):
            self.server.proxy.count(fault.mode)
            if fault.mode == "error":
                payload = s3_error_body(fault.status)
                headers = [("Content-Type", "application/xml"), ("x-amz-request-id", "CHAOS")]
                return self._respond(fault.status, "", headers, payload, cut=False)
            if fault.mode == "reset":
                self.close_connection = True
                return _reset(self.connection)
            if fault.mode == "delay":
                time.sleep(fault.delay)
            if fault.mode == "truncate":
                status, reason, headers, payload = self._forward(body)
                return self._respond(status, reason, headers, payload, cut=len(payload) > 1)
        try:
            status, reason, headers, payload = self._forward(body)
        except OSError as exc:
            payload = f"upstream unreachable: {exc}".encode()
            status, reason, headers = 502, "Bad Gateway", [("Content-Type", "text/plain")]
        self._respond(status, reason, headers, payload, cut=False)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, OSError):  # the client or our own reset closed it
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address) -> None:
        pass  # a connection the fault or the client broke is the point, not news


class FaultProxy:
    """Forwards ``http://127.0.0.1:{port}`` to ``upstream``; see the module docstring."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.fault = Fault()
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server: (host, port)
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_mode(self, mode: str, *, status: int = 503, delay: float = 0.0, only: tuple[str, ...] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if mode == "error" and status not in ERROR_CODES:
            raise ValueError(f"error status must be one of {sorted(ERROR_CODES)}")
        self.fault = Fault(mode, status, delay, frozenset(m.upper() for m in only))

    def passthrough(self) -> None:
        self.fault = Fault()

    def count(self, mode: str) -> None:
        with self._lock:
            self.faults[mode] += 1

    @property
    def injected(self) -> int:
        with self._lock:
            return sum(self.faults.values())
