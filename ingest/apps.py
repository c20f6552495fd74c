import os

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from celery.signals import worker_process_shutdown

        # Prometheus multiprocess mode: a prefork child's live gauges go once it has exited.
        worker_process_shutdown.connect(_child_gone, weak=False, dispatch_uid="ingest-prometheus-child-gone")


def _child_gone(pid=None, **_kwargs) -> None:
    from ingest.services.observing.prometheus import mark_process_dead

    mark_process_dead(pid or os.getpid())
