"""Firehose's Lambda processor contract: the transformation event a batch becomes, the invocation
(JSON in, JSON out, a function error retried), the checks Firehose makes of the response, and
the documents of the error output."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.local.firehose.records import SHARD_ID, KinesisRecord

logger = logging.getLogger("ingest.local.firehose")

RESULTS = frozenset({"Ok", "Dropped", "ProcessingFailed"})
# Firehose gives a Lambda processor at most 5 minutes.
LAMBDA_TIMEOUT_MS = 300_000

Transform = Callable[[dict, Any], Any]


@dataclass(frozen=True)
class LambdaFunction:
    """Where the processor runs: the function's name and ARN, its region and its retries."""

    name: str
    arn: str
    region: str
    # Firehose's processor NumberOfRetries: invocations after the first that raised.
    retries: int


class LambdaContext:
    """What a Lambda handler may read from its context object."""

    def __init__(self, function_name: str, arn: str, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.region = region
        self._deadline = time.monotonic() + LAMBDA_TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class BatchFailed(Exception):
    """Firehose fails the whole batch: the function raised after its retries, or answered
    something Firehose rejects. ``code`` is Firehose's error code."""

    def __init__(self, code: str, message: str, attempts: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attempts = attempts


def transformation_event(batch: list[KinesisRecord], *, stream_arn: str, kinesis_arn: str, region: str) -> dict:
    """The event Firehose hands its processor for ``batch`` (a Kinesis source)."""
    return {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": stream_arn,
        "sourceKinesisStreamArn": kinesis_arn,
        "region": region,
        "records": [
            {
                "recordId": r.record_id,
                "approximateArrivalTimestamp": r.arrival_ms,
                "data": base64.b64encode(r.data).decode("ascii"),
                "kinesisRecordMetadata": {
                    "shardId": SHARD_ID,
                    "partitionKey": r.partition_key,
                    "approximateArrivalTimestamp": r.arrival_ms,
                    "sequenceNumber": r.sequence_number,
                    "subsequenceNumber": 0,
                },
            }
            for r in batch
        ],
    }


def invoke(transform: Transform, event: dict, function: LambdaFunction, *, label: str) -> tuple[dict, int]:
    """Invoke the transform as Lambda would (JSON in, JSON out); retries a function error.
    Returns the response and the number of attempts; BatchFailed when Firehose would give up."""
    payload = json.dumps(event)
    attempts = 0
    while True:
        attempts += 1
        context = LambdaContext(function.name, function.arn, function.region)
        try:
            response = transform(json.loads(payload), context)
        except Exception as exc:
            logger.warning("local firehose %s: the transform raised (attempt %d): %r", label, attempts, exc)
            if attempts > function.retries:
                raise BatchFailed(
                    "Lambda.FunctionError",
                    f"The Lambda function was successfully invoked but it returned an error result: "
                    f"{type(exc).__name__}: {exc}",
                    attempts,
                ) from exc
            continue
        try:
            return json.loads(json.dumps(response)), attempts
        except (TypeError, ValueError) as exc:
            raise BatchFailed(
                "Lambda.JsonProcessingException",
                f"The Lambda function's response is not valid JSON: {exc}",
                attempts,
            ) from exc


def check_response(response: object, batch: list[KinesisRecord]) -> dict[str, dict]:
    """The response records by recordId (an ``Ok`` one with its data decoded under ``_bytes``), or
    BatchFailed if Firehose would reject the response."""
    if not isinstance(response, dict) or not isinstance(response.get("records"), list):
        raise BatchFailed("Lambda.InvalidReturnedData", "The response has no 'records' list.")
    expected = {r.record_id for r in batch}
    by_id: dict[str, dict] = {}
    for item in response["records"]:
        if not isinstance(item, dict):
            raise BatchFailed("Lambda.InvalidReturnedData", "A response record is not an object.")
        record_id = item.get("recordId")
        if record_id not in expected:
            raise BatchFailed("Lambda.MissingRecordId", f"Unknown or missing recordId {record_id!r}.")
        if record_id in by_id:
            raise BatchFailed("Lambda.DuplicatedRecordId", f"recordId {record_id} was returned twice.")
        result = item.get("result")
        if result not in RESULTS:
            raise BatchFailed(
                "Lambda.InvalidReturnedData",
                f"recordId {record_id}: result {result!r} is not Ok, Dropped or ProcessingFailed.",
            )
        if result == "Ok":
            data = item.get("data")
            try:
                if not isinstance(data, str):
                    raise ValueError("missing")
                item["_bytes"] = base64.b64decode(data, validate=True)
            except ValueError as exc:
                raise BatchFailed(
                    "Lambda.InvalidReturnedData", f"recordId {record_id}: 'data' is not base64 ({exc})."
                ) from exc
        by_id[record_id] = item
    if len(by_id) != len(expected):
        raise BatchFailed("Lambda.MissingRecordId", f"{len(expected) - len(by_id)} recordId(s) were not returned.")
    return by_id


def error_output(
    failures: list[tuple[KinesisRecord, str, str]], *, attempts: int, ended_ms: int, lambda_arn: str
) -> bytes:
    """The error output's content for failed records: one JSON document per line, as Firehose
    writes them (uncompressed; the caller GZIPs)."""
    lines = [
        json.dumps(
            {
                "attemptsMade": attempts,
                "arrivalTimestamp": record.arrival_ms,
                "errorCode": code,
                "errorMessage": message,
                "attemptEndingTimestamp": ended_ms,
                "rawData": base64.b64encode(record.data).decode("ascii"),
                "lambdaArn": lambda_arn,
            }
        )
        for record, code, message in failures
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")
