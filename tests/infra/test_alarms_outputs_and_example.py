"""The Terraform in infra/: Alarms, variables, outputs and the example.

How the HCL is read: tests/infra/terraform_facts.py."""

from __future__ import annotations

import re

from . import hcl
from .hcl import (
    EXAMPLE,
    Config,
    is_expression,
)

# ---- Alarms, variables, outputs, example ------------------------------------------------------------------


def test_alarms(module: Config) -> None:
    alarms = module.resources_of("aws_cloudwatch_metric_alarm")
    metrics = {(a["namespace"], a["metric_name"]) for a in alarms.values()}
    assert {
        ("AWS/Firehose", "DeliveryToS3.DataFreshness"),
        ("AWS/Firehose", "DeliveryToS3.Success"),
        ("AWS/Firehose", "ExecuteProcessing.Success"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= metrics
    for name, alarm in alarms.items():
        assert is_expression(alarm["alarm_actions"], "local.alarm_actions"), name
        if alarm["namespace"] == "AWS/Firehose":
            assert is_expression(alarm["for_each"], "local.streams"), name
            assert is_expression(
                alarm["dimensions"]["DeliveryStreamName"],
                "aws_kinesis_firehose_delivery_stream.this[each.key].name",
            ), name
    assert is_expression(alarms["dlq_messages"]["dimensions"]["QueueName"], "aws_sqs_queue.ingest_dlq.name")
    assert is_expression(alarms["queue_age"]["dimensions"]["QueueName"], "aws_sqs_queue.ingest.name")
    assert module.locals["alarm_actions"] == "${var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]}"


def test_outputs(module: Config, example: Config) -> None:
    required = {
        "api_url",
        "api_key_id",
        "api_key",
        "bucket_name",
        "queue_url",
        "queue_arn",
        "dlq_url",
        "consumer_policy_arn",
        "consumer_policy_json",
        "worker_policy_arn",
        "web_policy_arn",
        "system_two_invoke_policy_json",
        "stream_names",
    }
    assert required <= set(module.outputs)
    assert required <= set(example.outputs)
    assert module.outputs["api_key"]["sensitive"] is True
    assert example.outputs["api_key"]["sensitive"] is True
    assert module.outputs["api_url"]["value"] == "${aws_api_gateway_stage.this.invoke_url}/v1"


def test_example_calls_the_module(module: Config, example: Config) -> None:
    main = example.files["main.tf"]
    (call,) = [b["ingest_pipeline"] for b in main["module"]]
    assert call["source"] == "../../modules/ingest_pipeline"
    arguments = set(call) - {"source"}
    assert arguments <= set(module.variables), arguments - set(module.variables)
    required = {name for name, v in module.variables.items() if "default" not in v}
    assert required <= arguments
    for name in arguments:
        assert is_expression(call[name], f"var.{name}"), name
        assert name in example.variables

    with (EXAMPLE / "terraform.tfvars.example").open(encoding="utf-8") as f:
        tfvars = hcl.hcl2.load(f, serialization_options=hcl.OPTIONS)
    assert set(tfvars) <= set(example.variables)
    assert {name for name, v in example.variables.items() if "default" not in v} <= set(tfvars)


def test_checkov_skips_carry_a_reason() -> None:
    skips = []
    for path in hcl.tf_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                skips.append(line.strip())
                assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:\S.{20,}", line.strip()), line
    assert skips
