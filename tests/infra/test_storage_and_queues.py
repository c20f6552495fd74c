"""The Terraform in infra/: The bucket and the queues.

How the HCL is read: tests/infra/terraform_facts.py."""

from __future__ import annotations

import re

from transforms.streams import STREAM_NAMES

from .hcl import (
    Config,
    block,
    blocks,
    dynamic_blocks,
    is_expression,
    render,
)
from .terraform_facts import (
    JSON_STREAM_NAMES,
)

# ---- Bucket and queue -----------------------------------------------------------------------------------


def test_bucket_notifications_route_exactly_the_stream_prefixes(module: Config) -> None:
    notification = module.resource("aws_s3_bucket_notification", "ingest")
    dynamic = dynamic_blocks(notification, "queue")
    assert len(dynamic) == 1
    assert is_expression(dynamic[0]["for_each"], "local.streams")
    content = block(dynamic[0], "content")
    assert is_expression(content["queue_arn"], "aws_sqs_queue.ingest.arn")
    assert content["events"] == ["s3:ObjectCreated:*"]
    prefixes = {render(content["filter_prefix"], {"queue.key": name}) for name in STREAM_NAMES}
    assert prefixes == {f"{name}/" for name in JSON_STREAM_NAMES}
    assert prefixes == {f"{name}/" for name in STREAM_NAMES}

    # Other notifications: System Two's snapshots to the ingest queue (reconciliation); error-output files
    # elsewhere, never to the ingest queue.
    others = blocks(notification, "queue")
    values = {"local.error_prefix_root": "errors/", "local.snapshot_prefix_root": "snapshots/"}
    to_ingest = {
        render(o["filter_prefix"], values) for o in others if is_expression(o["queue_arn"], "aws_sqs_queue.ingest.arn")
    }
    assert to_ingest == {"snapshots/"}
    all_prefixes = sorted(prefixes | {render(o["filter_prefix"], values) for o in others})
    for a in all_prefixes:  # S3 rejects overlapping prefixes for the same event type
        assert not any(b != a and b.startswith(a) for b in all_prefixes), a

    depends_on = notification["depends_on"]
    assert "${aws_sqs_queue_policy.ingest}" in depends_on


def test_bucket_is_locked_down(module: Config) -> None:
    sse = block(module.resource("aws_s3_bucket_server_side_encryption_configuration", "ingest"), "rule")
    default = block(sse, "apply_server_side_encryption_by_default")
    assert default["sse_algorithm"] == "aws:kms"
    public = module.resource("aws_s3_bucket_public_access_block", "ingest")
    assert all(
        public[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    versioning = module.resource("aws_s3_bucket_versioning", "ingest")
    assert block(versioning, "versioning_configuration")["status"] == "Enabled"
    ownership = module.resource("aws_s3_bucket_ownership_controls", "ingest")
    assert block(ownership, "rule")["object_ownership"] == "BucketOwnerEnforced"
    lifecycle = block(module.resource("aws_s3_bucket_lifecycle_configuration", "ingest"), "rule")
    assert "abort_incomplete_multipart_upload" in lifecycle
    assert "noncurrent_version_expiration" in lifecycle

    policy = module.policy_documents()["bucket"]
    statement = block(policy, "statement")
    assert statement["effect"] == "Deny"
    condition = block(statement, "condition")
    assert (condition["test"], condition["variable"], condition["values"]) == ("Bool", "aws:SecureTransport", ["false"])


def test_queue_has_a_dead_letter_queue(module: Config) -> None:
    queue = module.resource("aws_sqs_queue", "ingest")
    redrive = queue["redrive_policy"]
    assert redrive.startswith("${jsonencode(")
    assert re.search(r"deadLetterTargetArn\s*=\s*aws_sqs_queue\.ingest_dlq\.arn\b", redrive)
    assert re.search(r"maxReceiveCount\s*=\s*var\.dlq_max_receive_count\b", redrive)
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["max_message_size"] == 262144
    assert queue["receive_wait_time_seconds"] == 20

    dlq = module.resource("aws_sqs_queue", "ingest_dlq")
    assert dlq["message_retention_seconds"] == 1209600
    assert module.variables["queue_message_retention_seconds"]["default"] < dlq["message_retention_seconds"]

    queue_policy = module.resource("aws_sqs_queue_policy", "ingest")
    assert is_expression(queue_policy["policy"], 'data.aws_iam_policy_document.queue["ingest"].json')
    document = module.policy_documents()["queue"]
    [send] = dynamic_blocks(document, "statement")
    assert send["for_each"].replace(" ", "") == "${contains(local.notified_queues,each.key)?[each.value]:[]}"
    assert module.locals["notified_queues"] == '${toset(["ingest", "failed_records"])}'
    statement = block(send, "content")
    assert statement["actions"] == ["sqs:SendMessage"]
    assert block(statement, "principals")["identifiers"] == ["s3.amazonaws.com"]
    conditions = {c["variable"]: c for c in blocks(statement, "condition")}
    assert is_expression(conditions["aws:SourceArn"]["values"][0], "aws_s3_bucket.ingest.arn")
    assert "aws:SourceAccount" in conditions


def test_every_queue_refuses_requests_without_tls(module: Config) -> None:
    queues = set(module.resources_of("aws_sqs_queue"))
    assert queues == {"ingest", "ingest_dlq", "failed_records"}
    document = module.policy_documents()["queue"]
    assert is_expression(document["for_each"], "local.queue_arns")
    arns = module.locals["queue_arns"]
    assert {name: arns[name] for name in queues} == {name: f"${{aws_sqs_queue.{name}.arn}}" for name in queues}
    [deny] = blocks(document, "statement")
    assert deny["sid"] == "DenyWithoutTLS"
    assert deny["effect"] == "Deny"
    assert block(deny, "principals")["identifiers"] == ["*"]
    assert deny["actions"] == ["sqs:*"]
    assert deny["resources"] == ["${each.value}"]
    condition = block(deny, "condition")
    assert (condition["test"], condition["variable"], condition["values"]) == ("Bool", "aws:SecureTransport", ["false"])
    for name in queues:
        policy = module.resource("aws_sqs_queue_policy", name)
        assert is_expression(policy["queue_url"], f"aws_sqs_queue.{name}.id")
        assert is_expression(policy["policy"], f'data.aws_iam_policy_document.queue["{name}"].json')
