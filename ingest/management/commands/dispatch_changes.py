"""``manage.py dispatch_changes``: deliver the change notifications that workers left undelivered."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ingest.services.changes.outbox import dispatch_undelivered, undelivered_count


class Command(BaseCommand):
    help = (
        "Send the rows_changed signal for outbox rows nobody delivered (a worker died after its commit, "
        "or a receiver failed). The consumer's sweep does the same every sweep interval."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than", type=float, default=0.0, help="Only rows written at least this many seconds ago."
        )

    def handle(self, *args, **opts) -> None:
        delivered, failed = dispatch_undelivered(older_than=opts["older_than"])
        self.stdout.write(f"delivered {delivered}, failed {failed}, undelivered now {undelivered_count()}")
