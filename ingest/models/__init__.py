"""The ingest's own records, one module per subject; every model is importable from here.

``imports``: files, attempts, line errors; ``failed_records``: Firehose's error output and its
redrive, the event clock and the outbox.
"""

from ingest.models.failed_records import (
    ChangeNotification,
    ErrorFile,
    EventLagCount,
    ImportEventClock,
    RejectedRecord,
    RejectedStatus,
)
from ingest.models.imports import (
    DONE_STATUSES,
    STREAM_CHOICES,
    ImportAttempt,
    ImportCounts,
    ImportFile,
    ImportLineError,
    ImportStatus,
    RejectedMessage,
    SeenSignature,
)

__all__ = [
    "DONE_STATUSES",
    "STREAM_CHOICES",
    "ChangeNotification",
    "ErrorFile",
    "EventLagCount",
    "ImportAttempt",
    "ImportCounts",
    "ImportEventClock",
    "ImportFile",
    "ImportLineError",
    "ImportStatus",
    "RejectedMessage",
    "RejectedRecord",
    "RejectedStatus",
    "SeenSignature",
]
