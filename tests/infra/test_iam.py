"""The Terraform in infra/: IAM.

How the HCL is read: tests/infra/terraform_facts.py."""

from __future__ import annotations

import re
from typing import Any

from transforms.streams import STREAM_NAMES

from .hcl import (
    EXAMPLE,
    MODULE,
    Config,
    block,
    blocks,
    is_expression,
    render,
)
from .terraform_facts import (
    each_key,
)

# ---- IAM -----------------------------------------------------------------------------------------


def _policy_documents() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for directory in (MODULE, EXAMPLE):
        for name, document in Config(directory).policy_documents().items():
            for statement in blocks(document, "statement"):
                found.append((directory.name, name, statement))
    return found


def _wildcard(action: str) -> bool:
    return "*" in action


def test_no_grant_uses_wildcard_actions() -> None:
    statements = _policy_documents()
    assert statements
    for where, name, statement in statements:
        assert "not_actions" not in statement, f"{where}/{name}: NotAction"
        actions = statement.get("actions", [])
        assert isinstance(actions, list), f"{where}/{name}: actions must be a literal list, got {actions!r}"
        if statement.get("effect", "Allow") == "Allow":
            assert not [a for a in actions if _wildcard(a)], f"{where}/{name} grants {actions}"
        else:
            # A Deny may be broader than a list (s3:* for non-TLS), but never "*" for everything.
            assert "*" not in actions, f"{where}/{name}: Deny of every action"


def test_wildcard_resources_only_where_the_service_has_no_resources() -> None:
    for where, name, statement in _policy_documents():
        if statement.get("effect", "Allow") != "Allow" or statement.get("resources") != ["*"]:
            continue
        actions = statement["actions"]
        # A key policy's "*" is the key itself; X-Ray has no resource-level permissions.
        assert name == "kms" or all(a.startswith("xray:") for a in actions), f"{where}/{name}: {actions} on *"


def test_policies_are_documents_not_inline_json() -> None:
    """Every policy attribute is a data.aws_iam_policy_document (so the scans above see it)."""
    policy_attributes = ("policy", "assume_role_policy")
    for directory in (MODULE, EXAMPLE):
        config = Config(directory)
        for (type_, name), body in config.resources.items():
            for attribute in policy_attributes:
                if attribute not in body:
                    continue
                value = body[attribute]
                assert re.fullmatch(r"\$\{data\.aws_iam_policy_document\.\w+(\[[^\]]+\])?\.json\}", value), (
                    f"{type_}.{name}.{attribute} is not a policy document: {value!r}"
                )
                assert "Action" not in value


def test_api_role_puts_only_to_the_streams(module: Config) -> None:
    statements = {s["sid"]: s for s in blocks(module.policy_documents()["apigateway_kinesis"], "statement")}
    put = statements["PutRecordOnTheStreams"]
    assert put["actions"] == ["kinesis:PutRecord"]
    assert is_expression(put["resources"], "local.kinesis_stream_arns")
    assert is_expression(module.locals["kinesis_stream_arns"], "[for s in aws_kinesis_stream.this : s.arn]")


def test_firehose_role_writes_only_its_prefixes(module: Config) -> None:
    document = module.policy_documents()["firehose"]
    assert is_expression(document["for_each"], "local.streams")
    statements = {s["sid"]: s for s in blocks(document, "statement")}
    write = statements["WriteItsPrefixes"]
    values = {"aws_s3_bucket.ingest.arn": "arn:aws:s3:::bucket", "local.error_prefix_root": "errors/"}
    for name in STREAM_NAMES:
        resources = {render(r, {**values, **each_key(name)}) for r in write["resources"]}
        assert resources == {f"arn:aws:s3:::bucket/{name}/*", f"arn:aws:s3:::bucket/errors/{name}/*"}
    assert statements["ReadItsKinesisStream"]["resources"] == ["${aws_kinesis_stream.this[each.key].arn}"]


S3_VALUES = {"aws_s3_bucket.ingest.arn": "arn:aws:s3:::bucket", "local.error_prefix_root": "errors/"}
SNAPSHOT_VALUES = {"aws_s3_bucket.ingest.arn": "arn:aws:s3:::bucket", "local.snapshot_prefix_root": "snapshots/"}


def _statements(module: Config, name: str) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in blocks(module.policy_documents()[name], "statement")}


def _actions(module: Config, name: str) -> set[str]:
    return {a for s in _statements(module, name).values() for a in s["actions"]}


def _stream_object_arns(module: Config) -> list[str]:
    expression = module.locals["stream_object_arns"]
    assert is_expression(expression, '[for name in local.stream_names : "${aws_s3_bucket.ingest.arn}/${name}/*"]')
    return [f"arn:aws:s3:::bucket/{name}/*" for name in STREAM_NAMES]


def _resolve(module: Config, resources: Any) -> list[str]:
    """The ARNs of a statement's resources: a local list, a concat of them, or literal templates."""
    known = {
        "local.stream_object_arns": _stream_object_arns(module),
        "local.error_object_arns": [render(r, S3_VALUES) for r in module.locals["error_object_arns"]],
        "local.snapshot_object_arns": [render(r, SNAPSHOT_VALUES) for r in module.locals["snapshot_object_arns"]],
    }
    if isinstance(resources, list):
        return [render(r, S3_VALUES) for r in resources]
    for expression, arns in known.items():
        if is_expression(resources, expression):
            return arns
    names = re.fullmatch(r"\$\{concat\(([\w.]+),\s*([\w.]+)\)\}", resources)
    assert names, resources
    return known[names.group(1)] + known[names.group(2)]


def test_each_process_has_its_own_least_privilege_policy(module: Config) -> None:
    assert _actions(module, "consumer") == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    }
    assert _actions(module, "worker") == {"s3:GetObject", "kms:Decrypt"}
    assert _actions(module, "web") == {"s3:GetObject", "kms:Decrypt"}

    consumer = _statements(module, "consumer")
    sqs = consumer["ConsumeTheNotifications"]
    # The notification queue and the failed-records queue (failed records for the redrive); not the DLQ.
    assert sqs["resources"] == ["${aws_sqs_queue.ingest.arn}", "${aws_sqs_queue.failed_records.arn}"]
    # Writing is limited to the redrive's own prefix, outside the notified stream prefixes.
    assert consumer["WriteAndReadTheRedriveFiles"]["resources"] == [
        "${aws_s3_bucket.ingest.arn}/${local.redrive_prefix_root}*"
    ]
    stream_files = [f"arn:aws:s3:::bucket/{name}/*" for name in STREAM_NAMES]
    assert _resolve(module, consumer["ReadTheStreamAndErrorFiles"]["resources"]) == [
        *stream_files,
        "arn:aws:s3:::bucket/errors/*",
    ]
    for name, readable in (("worker", [*stream_files, "arn:aws:s3:::bucket/snapshots/*"]), ("web", stream_files)):
        [get] = [s for s in _statements(module, name).values() if s["actions"] == ["s3:GetObject"]]
        assert _resolve(module, get["resources"]) == readable, name
    for name in ("consumer", "worker", "web"):
        [decrypt] = [s for s in _statements(module, name).values() if s["actions"] == ["kms:Decrypt"]]
        assert decrypt["resources"] == ["${aws_kms_key.this.arn}"]
        condition = block(decrypt, "condition")
        assert (condition["variable"], condition["values"]) == ("kms:ViaService", ["${local.s3_via_service}"])

        policy = module.resource("aws_iam_policy", name)
        assert is_expression(policy["policy"], f"data.aws_iam_policy_document.{name}.json")
        assert is_expression(module.outputs[f"{name}_policy_arn"]["value"], f"aws_iam_policy.{name}.arn")
        assert is_expression(
            module.outputs[f"{name}_policy_json"]["value"], f"data.aws_iam_policy_document.{name}.json"
        )


def test_listing_the_bucket_is_limited_to_the_stream_and_error_prefixes(module: Config) -> None:
    listings = [
        (name, s)
        for name, document in module.policy_documents().items()
        for s in blocks(document, "statement")
        if "s3:ListBucket" in s["actions"] and s.get("effect", "Allow") == "Allow"
    ]
    assert {name for name, _ in listings} == {"consumer", "firehose"}
    [(_, consumer)] = [(n, s) for n, s in listings if n == "consumer"]
    assert consumer["actions"] == ["s3:ListBucket"]
    condition = block(consumer, "condition")
    assert (condition["test"], condition["variable"]) == ("StringLike", "s3:prefix")
    assert is_expression(condition["values"], "local.listable_s3_prefixes")
    expression = module.locals["listable_s3_prefixes"].replace(" ", "")
    assert expression == '${concat([fornameinlocal.stream_names:"${name}/*"],["${local.error_prefix_root}*"])}'
    prefixes = [f"{name}/*" for name in STREAM_NAMES] + ["errors/*"]
    assert len(prefixes) == len(STREAM_NAMES) + 1


def test_system_two_may_only_put_snapshots(module: Config, example: Config) -> None:
    """System Two's principal writes snapshots under snapshots/ and nothing else of the bucket."""
    statements = _statements(module, "system_two_snapshots")
    assert {sid: s["actions"] for sid, s in statements.items()} == {
        "PutSnapshots": ["s3:PutObject"],
        "EncryptTheSnapshots": ["kms:GenerateDataKey"],
    }
    assert _resolve(module, statements["PutSnapshots"]["resources"]) == ["arn:aws:s3:::bucket/snapshots/*"]
    assert module.locals["snapshot_prefix_root"] == "snapshots/"
    encrypt = statements["EncryptTheSnapshots"]
    assert encrypt["resources"] == ["${aws_kms_key.this.arn}"]
    condition = block(encrypt, "condition")
    assert (condition["variable"], condition["values"]) == ("kms:ViaService", ["${local.s3_via_service}"])
    # No other policy of System Two's touches S3 (its invoke policy calls the API only).
    invoke_actions = {a for s in _statements(module, "system_two_invoke").values() for a in s["actions"]}
    assert invoke_actions == {"execute-api:Invoke"}
    for config in (module, example):
        assert "system_two_snapshot_policy_json" in config.outputs
    assert is_expression(
        module.outputs["system_two_snapshot_policy_json"]["value"],
        "data.aws_iam_policy_document.system_two_snapshots.json",
    )
