"""The demo's embedded services, each in a thread of this process: a Celery worker on the memory
broker, the real SQS consumer, and this Django project over real HTTP."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any, cast

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_worker() -> Iterator[None]:
    """A Celery worker (solo pool) consuming the memory broker in a thread of this process."""
    from celery.worker import WorkController, state

    from website.celery import app

    class _Worker(WorkController):
        def __init__(self, *args, **kwargs) -> None:
            self.consumer_ready = threading.Event()
            super().__init__(*args, **kwargs)

        def on_consumer_ready(self, consumer) -> None:
            self.consumer_ready.set()

    app.finalize()
    app.set_current()
    app.set_default()
    worker = _Worker(
        app=app,
        hostname=f"demo@{os.uname().nodename}",
        pool="solo",
        concurrency=1,
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )

    def run() -> None:
        try:
            worker.start()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="demo-celery-worker", daemon=True)
    thread.start()
    if not worker.consumer_ready.wait(30):
        raise RuntimeError("the embedded Celery worker did not start within 30 s")
    try:
        yield
    finally:
        # A warm shutdown, as the testing helper of Celery does it: the worker loop checks this flag.
        state.should_stop = 0
        thread.join(30)
        state.should_stop = None


@contextlib.contextmanager
def consumer_thread(
    queue_url: str | None = None, *, sweep_interval: float = 5.0, name: str = "demo-consumer"
) -> Iterator[Any]:
    """The real SQS consumer (``ingest.services.intake.consumer``) in a thread, on the notification queue
    unless ``queue_url`` names another (the failed-records queue); yields the consumer."""
    from ingest.services.intake.consumer import ConsumerOptions, EventConsumer

    consumer = EventConsumer(
        ConsumerOptions.from_settings(queue_url=queue_url, wait_time_seconds=1, sweep_interval=sweep_interval),
        echo=lambda line: None,
    )

    def run() -> None:
        try:
            consumer.run()
        except Exception:
            logger.exception("the demo's consumer (%s) stopped", name)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        consumer.request_stop()
        thread.join(30)


@contextlib.contextmanager
def api_server(port: int = 0) -> Iterator[tuple[str, int]]:
    """This Django project over real HTTP (the local import API and the admin); yields (host, port)."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def setup(self) -> None:
            super().setup()
            # Headers and body leave in separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every response.
            cast(socket.socket, self.connection).setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def get_environ(self) -> dict[str, Any]:
            environ = super().get_environ()
            # wsgiref reports a missing Content-Type as text/plain; the import API reads a request
            # without one as JSON (as API Gateway does), so pass the absence through.
            if self.headers.get("Content-Type") is None:
                environ.pop("CONTENT_TYPE", None)
            return environ

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, allow_reuse_address=bool(port))
    # Not get_wsgi_application(): it would run django.setup() again, and with it the logging config.
    # The admin's CSS and JS are served as runserver serves them in development.
    server.set_app(StaticFilesHandler(WSGIHandler()) if settings.DEBUG else WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="demo-api", daemon=True)
    thread.start()
    try:
        host, bound_port = server.server_address[:2]
        yield str(host), int(bound_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
