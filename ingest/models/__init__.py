"""The ingest's own records, one module per subject; every model is importable from here.

- ``imports``: import files, their attempts and line errors (the import lifecycle)
- ``notifications``: SQS messages the consumer could not read
- ``failed_records``: Firehose's error output and the redrive of its records
- ``clock``: the ERP clock of every import (freshness, lag counts)
- ``changes``: the outbox of changed keys
- ``contract_drift``: what System Two sends that the contract does not name (unknown fields, envelope extras)
- ``reconciliation``: runs against System Two's snapshots, their drift and bad lines
- ``retention``: what outlives pruning (the ledger of pruned files, the hourly and daily aggregates)
- ``local_api``: the local import API's replay guard
- ``streams``: the stream choices, from transforms/streams.json

The modules import ``imports`` and ``streams`` only, never this package, so there is no cycle.
"""

from ingest.models.changes import ChangeNotification
from ingest.models.clock import EventLagCount, ImportEventClock
from ingest.models.contract_drift import EnvelopeExtras, FieldScope, UnknownField
from ingest.models.failed_records import ErrorOutputFile, FailedRecord, FailedRecordStatus
from ingest.models.imports import (
    BACKLOG_STATUSES,
    DONE_STATUSES,
    ImportAttempt,
    ImportCounts,
    ImportFile,
    ImportLineError,
    ImportStatus,
)
from ingest.models.local_api import SeenSignature
from ingest.models.notifications import UnreadableMessage
from ingest.models.reconciliation import ReconciliationDrift, ReconciliationLineError, ReconciliationRun
from ingest.models.retention import ImportLedgerEntry, StatsPeriod, StreamStats
from ingest.models.streams import STREAM_CHOICES

__all__ = [
    "BACKLOG_STATUSES",
    "DONE_STATUSES",
    "STREAM_CHOICES",
    "ChangeNotification",
    "EnvelopeExtras",
    "ErrorOutputFile",
    "EventLagCount",
    "FailedRecord",
    "FailedRecordStatus",
    "FieldScope",
    "ImportAttempt",
    "ImportCounts",
    "ImportEventClock",
    "ImportFile",
    "ImportLedgerEntry",
    "ImportLineError",
    "ImportStatus",
    "ReconciliationDrift",
    "ReconciliationLineError",
    "ReconciliationRun",
    "SeenSignature",
    "StatsPeriod",
    "StreamStats",
    "UnknownField",
    "UnreadableMessage",
]
