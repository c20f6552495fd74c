"""Signals the ingest sends for the rest of the website.

``rows_changed``: the rows one import changed, sent after the import's transaction committed
(never for a rolled-back or dry-run import), at least once. Keyword arguments:

* ``stream``: the stream's name (``"orders"``);
* ``created``, ``updated``, ``deleted``: lists of natural keys; a stream with a one-field key
  gives the values themselves (``["ORD-1", "ORD-2"]``), a composite key gives lists
  (``[["ORD-1", 1], ...]``);
* ``import_file_id`` and ``part``: which import, and which of its batches (an import of more than
  ``INGEST_BATCH_SIZE`` lines is delivered in parts, one per batch);
* ``notification_id``: the outbox row; the same id comes again on a re-delivery, so a receiver
  that must not repeat work can remember it.

A receiver that raises leaves the notification undelivered (its database writes are rolled back
to a savepoint, and the receivers after it are not called): it is sent again, to every receiver,
by the next ``manage.py dispatch_changes`` or the consumer's sweep. See
docs/operations.md for an example receiver.
"""

from django.dispatch import Signal

rows_changed = Signal()
