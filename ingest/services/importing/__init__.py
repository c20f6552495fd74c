"""Importing: one registered file into the website's tables, exactly once.

``task_runner`` is what a Celery worker runs for one delivery of the import task, ``run`` the
import of one file in one transaction, ``batch_run`` ready small files of one stream in one
transaction, ``lifecycle`` every status a file takes, ``sources`` opening the object, ``parsing``
System One lines to ``rows.RowEvent``s (``extras``: the unknown fields they carry),
``line_errors`` what a bad line records, ``hooks`` what every import adds (clock, outbox,
metrics), ``exceptions`` the failures and how they are retried, ``enqueue`` sending the import and
reconciliation tasks.
"""
