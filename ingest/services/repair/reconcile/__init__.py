"""Reconciliation against System Two's snapshots (the contract's "Snapshots (reconciliation)").

``snapshot`` reads a snapshot (header, rows, line errors), ``compare`` stages it chunk by chunk and
compares it with the website's table in SQL, ``repair`` applies the requested repairs through the
importer's loader, ``run`` ties them into one recorded run, ``registration`` takes snapshot objects
from the landing bucket.
"""

from ingest.services.repair.reconcile.run import Report, Requested, reconcile, repair, resend_rows, write_resend
from ingest.services.repair.reconcile.snapshot import SnapshotError

__all__ = ["Report", "Requested", "SnapshotError", "reconcile", "repair", "resend_rows", "write_resend"]
