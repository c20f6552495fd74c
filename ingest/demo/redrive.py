"""The demo's redrive step: a transform release with a bug rejects valid events, the fix is
deployed, and the failed records are redriven (see ``run_demo``).

During the burst the Firehose stand-in runs "release v0", the real transform except that it
fails every ``estimates`` event (as a release that does not know a new field would): those
land in the error output with the invalid events pushed past the API. A second consumer reads
the failed-records queue and registers every error object. Then the fix-up step deploys the
real transform and redrives everything: the estimates pass and are imported once (the fold
check then holds), the invalid events stay listed with today's reason.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

BUGGY_STREAM = "estimates"
BUG = "transform release v0: estimates are not supported yet"


def release_v0(event: dict, context: Any) -> dict:
    """The real transform, except that every record of the buggy stream fails."""
    from transforms.events import stream_of_delivery_stream
    from transforms.handler import FAILED, lambda_handler

    answer = lambda_handler(event, context)
    try:
        stream = stream_of_delivery_stream(str(event.get("deliveryStreamArn") or ""))
    except ValueError:
        return answer
    if stream == BUGGY_STREAM:
        for record, out in zip(event.get("records", []), answer["records"], strict=True):
            if out["result"] != FAILED:
                logger.warning("record %s of stream %s failed: %s", record.get("recordId"), stream, BUG)
            out["result"], out["data"] = FAILED, record.get("data")
    return answer


@dataclass
class RedriveStepSummary:
    error_files_registered: int = 0
    records_rejected: int = 0
    records_passed: int = 0
    records_still_failing: int = 0
    redrive_files: int = 0
    redrive_files_imported: int = 0
    rows_loaded: int = 0
    still_failing_reasons: dict[str, int] = field(default_factory=dict)


def failed_records_consumer(queue_url: str) -> contextlib.AbstractContextManager[Any]:
    """The consumer on the failed-records queue, in a thread: it registers Firehose's error output."""
    from ingest.demo.services import consumer_thread

    return consumer_thread(queue_url, sweep_interval=0, name="demo-failed-records")


def run_redrive_step(
    firehose, error_files_landed: int, deadline: float, say: Callable[[str], None]
) -> RedriveStepSummary:
    """Wait for the error objects to be registered, deploy the fixed transform, redrive, wait for
    the redrive's imports."""
    from ingest.models import DONE_STATUSES, ErrorOutputFile, FailedRecord, ImportFile, ImportStatus
    from ingest.services.repair.redrive import redrive

    step = RedriveStepSummary()
    while ErrorOutputFile.objects.count() < error_files_landed and time.monotonic() < deadline:
        time.sleep(0.2)
    step.error_files_registered = ErrorOutputFile.objects.count()
    step.records_rejected = FailedRecord.objects.count()
    say(
        f"{step.records_rejected} failed record(s) in {step.error_files_registered} error-output file(s) registered; "
        f"fix-up: deploying the fixed transform (release v1) and redriving them"
    )
    firehose.use_transform(None)
    report = redrive()
    step.records_passed, step.records_still_failing = report.passed, report.still_failing
    step.redrive_files = len(report.files)
    for result in report.streams.values():
        for reason, n in result.reasons.items():
            step.still_failing_reasons[reason] = step.still_failing_reasons.get(reason, 0) + n
    files = ImportFile.objects.filter(pk__in=report.files)
    while time.monotonic() < deadline:
        if files.filter(status__in=[*DONE_STATUSES, ImportStatus.FAILED]).count() == len(report.files):
            break
        time.sleep(0.2)
    step.redrive_files_imported = files.filter(status__in=DONE_STATUSES).count()
    step.rows_loaded = sum(f.rows_created + f.rows_updated + f.rows_deleted for f in files)
    say(
        f"redrive: {step.records_passed} record(s) pass ({step.rows_loaded} rows loaded from {step.redrive_files} "
        f"file(s)), {step.records_still_failing} still fail and stay listed"
    )
    return step
