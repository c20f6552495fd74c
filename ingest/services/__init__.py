"""The ingest's business logic, one package per stage of the pipeline (docs/architecture.md):

- ``intake``: an S3 object becomes a registered ``ImportFile`` (SQS notifications, the consumer,
  registration, the sweep, the broker watch, outages, Firehose's error output).
- ``importing``: one registered file is imported exactly once (the task runner, the import run,
  its lifecycle, sources, parsing, line errors).
- ``loading``: a batch of events becomes version-guarded rows in the website's tables.
- ``repair``: putting things right (re-import, redrive, reconciliation against System Two's
  snapshots, adopting a field).
- ``observing``: freshness, hourly aggregates, percentiles, Prometheus, the periodic jobs.
- ``changes``: the outbox of changed keys and the signal that delivers it.
- ``retention``: the ingest's own records pruned by age (the ledger keeps exactly once).

Services never import the admin, views or management commands (enforced by import-linter,
``pyproject.toml``).
"""
