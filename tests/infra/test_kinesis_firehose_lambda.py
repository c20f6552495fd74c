"""The Terraform in infra/: Kinesis, Firehose and the transform Lambda.

How the HCL is read: tests/infra/terraform_facts.py."""

from __future__ import annotations

import re
from pathlib import Path

from transforms import events
from transforms.streams import STREAM_NAMES

from .hcl import (
    REPO_ROOT,
    Config,
    block,
    blocks,
    is_expression,
    render,
)
from .terraform_facts import (
    ENV,
    PATH_MODULE,
    each_key,
    local_string,
)

# ---- Kinesis, Firehose, Lambda -----------------------------------------------------------------------


def test_kinesis_stream_per_stream(module: Config) -> None:
    stream = module.resource("aws_kinesis_stream", "this")
    assert is_expression(stream["name"], "local.resource_names[each.key]")
    assert block(stream, "stream_mode_details")["stream_mode"] == "ON_DEMAND"
    assert stream["encryption_type"] == "KMS"
    assert is_expression(stream["kms_key_id"], "aws_kms_key.this.arn")
    assert is_expression(stream["retention_period"], "var.kinesis_retention_hours")


def test_firehose_per_stream(module: Config) -> None:
    firehose = module.resource("aws_kinesis_firehose_delivery_stream", "this")
    assert is_expression(firehose["name"], "local.resource_names[each.key]")
    assert firehose["destination"] == "extended_s3"
    source = block(firehose, "kinesis_source_configuration")
    assert is_expression(source["kinesis_stream_arn"], "aws_kinesis_stream.this[each.key].arn")
    assert is_expression(source["role_arn"], "aws_iam_role.firehose[each.key].arn")

    s3 = block(firehose, "extended_s3_configuration")
    assert is_expression(s3["bucket_arn"], "aws_s3_bucket.ingest.arn")
    assert s3["compression_format"] == "GZIP"
    assert is_expression(s3["kms_key_arn"], "aws_kms_key.this.arn")
    assert is_expression(s3["buffering_size"], "var.buffering_size_mb")
    assert is_expression(s3["buffering_interval"], "var.buffering_interval_seconds")
    assert block(s3, "cloudwatch_logging_options")["enabled"] is True
    values = {"local.error_prefix_root": local_string(module, "error_prefix_root")}
    for name in STREAM_NAMES:
        assert render(s3["prefix"], each_key(name)) == f"{name}/!{{timestamp:yyyy/MM/dd/HH}}/"
        assert render(s3["error_output_prefix"], {**values, **each_key(name)}) == (
            f"errors/{name}/!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd/HH}}/"
        )

    processing = block(s3, "processing_configuration")
    assert processing["enabled"] is True
    processor = block(processing, "processors")
    assert processor["type"] == "Lambda"
    parameters = {p["parameter_name"]: p["parameter_value"] for p in blocks(processor, "parameters")}
    assert parameters["LambdaArn"] == "${aws_lambda_function.transform.arn}:$LATEST"
    assert is_expression(parameters["BufferSizeInMBs"], "tostring(var.processor_buffer_size_mb)")
    assert is_expression(parameters["BufferIntervalInSeconds"], "tostring(var.processor_buffer_interval_seconds)")
    assert "NumberOfRetries" in parameters


def test_transform_derives_the_stream_from_the_delivery_stream_name() -> None:
    for env in ("prod", ENV):
        for name in STREAM_NAMES:
            arn = f"arn:aws:firehose:us-east-1:123456789012:deliverystream/{env}-{name}"
            assert events.stream_of_delivery_stream(arn) == name


def test_transform_lambda(module: Config) -> None:
    function = module.resource("aws_lambda_function", "transform")
    assert function["handler"] == "transforms.handler.lambda_handler"
    assert is_expression(function["runtime"], "var.lambda_runtime")
    assert is_expression(function["filename"], "local.lambda_zip_path")
    assert is_expression(function["source_code_hash"], "filebase64sha256(local.lambda_zip_path)")
    assert is_expression(function["reserved_concurrent_executions"], "var.lambda_reserved_concurrency")
    assert block(function, "tracing_config")["mode"] == "Active"
    zip_path = module.locals["lambda_zip_path"]
    default = re.fullmatch(r"\$\{coalesce\(var\.lambda_zip_path, \"(.*)\"\)\}", zip_path)
    assert default, zip_path
    assert (
        Path(render(default.group(1), {"path.module": PATH_MODULE})).resolve() == REPO_ROOT / "dist" / "transform.zip"
    )

    runtime = module.variables["lambda_runtime"]
    assert re.fullmatch(r"python3\.1[1-9]", runtime["default"])
    timeout = module.variables["lambda_timeout_seconds"]
    assert timeout["default"] <= 300
    assert "var.lambda_timeout_seconds <= 300" in block(timeout, "validation")["condition"]

    log_group = module.resource("aws_cloudwatch_log_group", "lambda")
    assert is_expression(log_group["retention_in_days"], "var.log_retention_days")
