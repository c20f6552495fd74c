"""The Terraform in infra/: it parses, and it wires every stream of transforms/streams.json.

``terraform validate`` needs the AWS provider, which CI (and this repository's sandbox) cannot
download; these tests read the HCL with python-hcl2 instead, and evaluate the module's
stream-derived locals from that HCL in Python (``hcl_eval``: what ``terraform console`` would
print, without the binary). What only a real ``terraform validate/plan`` can catch is listed in
docs/deploy.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from transforms import events, openapi
from transforms.streams import MAX_KEY_LENGTH, STREAM_NAMES, STREAMS

from . import hcl
from .hcl import (
    EXAMPLE,
    INFRA,
    MODULE,
    REPO_ROOT,
    STREAMS_JSON,
    Config,
    block,
    blocks,
    dynamic_blocks,
    is_expression,
    render,
    unheredoc,
)
from .hcl_eval import ModuleLocals

STREAMS_DOC = json.loads(STREAMS_JSON.read_text(encoding="utf-8"))
JSON_STREAM_NAMES = [s["name"] for s in STREAMS_DOC["streams"]]
JSON_KEYS = {s["name"]: [k["name"] for k in s["key"]] for s in STREAMS_DOC["streams"]}

MODULE_FILES = {
    "api.tf",
    "kinesis.tf",
    "firehose.tf",
    "lambda.tf",
    "bucket.tf",
    "queue.tf",
    "iam.tf",
    "alarms.tf",
    "variables.tf",
    "outputs.tf",
    "locals.tf",
    "versions.tf",
}

ENV = "pre-prod"
PATH_MODULE = str(MODULE)


@pytest.fixture(scope="module")
def module() -> Config:
    return Config(MODULE)


@pytest.fixture(scope="module")
def example() -> Config:
    return Config(EXAMPLE)


@pytest.fixture(scope="module")
def console() -> ModuleLocals:
    """The module's locals, evaluated from its HCL as ``terraform console`` would (no binary needed)."""
    return ModuleLocals(MODULE, {"environment": ENV})


def each_key(stream: str) -> dict[str, str]:
    return {"each.key": stream}


def local_string(module: Config, name: str) -> str:
    """A local that is a plain string literal (no interpolation)."""
    value = module.locals[name]
    assert isinstance(value, str) and "${" not in value, f"local.{name} is not a literal string: {value!r}"
    return value


# ---- Parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", hcl.tf_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_tf_file_parses(path: Path) -> None:
    parsed = hcl.load_tf(path)
    assert isinstance(parsed, dict)
    assert parsed, f"{path} is empty"


def test_module_and_example_layout() -> None:
    assert {p.name for p in MODULE.glob("*.tf")} >= MODULE_FILES
    assert {"main.tf", "providers.tf", "variables.tf", "outputs.tf", "versions.tf"} <= {
        p.name for p in EXAMPLE.glob("*.tf")
    }
    assert (EXAMPLE / "terraform.tfvars.example").is_file()


def test_versions(module: Config, example: Config) -> None:
    for config in (module, example):
        terraform = next(
            b for parsed in config.files.values() for b in parsed.get("terraform", []) if "required_providers" in b
        )
        assert terraform["required_version"] == ">= 1.5"
        aws = block(terraform, "required_providers")["aws"]
        assert aws["source"] == "hashicorp/aws"
        assert aws["version"] == "~> 5.0"


# ---- The one list of streams -----------------------------------------------------------------------


def test_streams_json_is_what_the_importer_routes() -> None:
    assert len(JSON_STREAM_NAMES) == 9
    assert tuple(JSON_STREAM_NAMES) == STREAM_NAMES
    assert {name: list(spec.key_names) for name, spec in STREAMS.items()} == JSON_KEYS


def test_module_reads_streams_json(module: Config) -> None:
    path = render(module.locals["streams_file"], {"path.module": PATH_MODULE})
    assert Path(path).resolve() == STREAMS_JSON.resolve()
    assert is_expression(module.locals["streams_doc"], "jsondecode(file(local.streams_file))")
    assert is_expression(module.locals["streams"], "{for s in local.streams_doc.streams : s.name => s}")
    assert is_expression(module.locals["stream_names"], "sort(keys(local.streams))")


def test_console_evaluates_the_streams_from_json(console: ModuleLocals) -> None:
    assert console.evaluate("local.stream_names") == sorted(STREAM_NAMES)
    assert console.evaluate("{for name, s in local.streams : name => [for k in s.key : k.name]}") == JSON_KEYS
    assert console.evaluate("local.resource_names") == {name: f"{ENV}-{name}" for name in STREAM_NAMES}


PER_STREAM_RESOURCES = [
    ("aws_api_gateway_resource", "stream"),
    ("aws_api_gateway_model", "event"),
    ("aws_api_gateway_method", "post"),
    ("aws_api_gateway_integration", "kinesis"),
    ("aws_kinesis_stream", "this"),
    ("aws_kinesis_firehose_delivery_stream", "this"),
    ("aws_iam_role", "firehose"),
    ("aws_iam_role_policy", "firehose"),
    ("aws_cloudwatch_log_group", "firehose"),
    ("aws_cloudwatch_log_stream", "firehose_delivery"),
    ("aws_cloudwatch_metric_alarm", "firehose_freshness"),
    ("aws_cloudwatch_metric_alarm", "firehose_delivery_success"),
    ("aws_cloudwatch_metric_alarm", "firehose_processing_success"),
]


@pytest.mark.parametrize(("type_", "name"), PER_STREAM_RESOURCES, ids=lambda v: v)
def test_per_stream_resources_iterate_over_streams_json(module: Config, type_: str, name: str) -> None:
    assert is_expression(module.resource(type_, name)["for_each"], "local.streams")


def test_stream_names_appear_only_in_streams_json() -> None:
    """No second list: no stream name, key field or model name is written anywhere in infra/ by
    hand. infra/openapi.json is generated from streams.json, and
    test_request_models_are_the_openapi_documents_schemas fails when it is not what the generator
    makes of it now."""
    words = set(JSON_STREAM_NAMES)
    for s in STREAMS_DOC["streams"]:
        words.update(k["name"] for k in s["key"])
        words.add(s["model"])
    offenders = []
    generated = {hcl.OPENAPI_JSON}
    for path in sorted(p for p in INFRA.rglob("*") if p.is_file() and ".terraform" not in p.parts):
        if path in generated:
            continue
        text = path.read_text(encoding="utf-8")
        for word in sorted(words):
            for m in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(word) + r"(?![A-Za-z0-9_])", text):
                line = text.count("\n", 0, m.start()) + 1
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}: {word}")
    assert not offenders, "stream definitions outside transforms/streams.json:\n" + "\n".join(offenders)


# ---- Import API ---------------------------------------------------------------------------------


def test_api_has_post_route_per_stream(module: Config) -> None:
    v1 = module.resource("aws_api_gateway_resource", "v1")
    assert v1["path_part"] == "v1"
    assert is_expression(v1["parent_id"], "aws_api_gateway_rest_api.this.root_resource_id")

    stream_resource = module.resource("aws_api_gateway_resource", "stream")
    assert is_expression(stream_resource["parent_id"], "aws_api_gateway_resource.v1.id")
    routes = {"/v1/" + render(stream_resource["path_part"], each_key(s)) for s in STREAM_NAMES}
    assert routes == {f"/v1/{s}" for s in JSON_STREAM_NAMES}

    method = module.resource("aws_api_gateway_method", "post")
    assert method["http_method"] == "POST"
    assert is_expression(method["resource_id"], "aws_api_gateway_resource.stream[each.key].id")
    # Authentication is SigV4 (IAM); the API key only selects System Two's usage plan.
    assert method["authorization"] == "AWS_IAM"
    assert method["api_key_required"] is True
    assert is_expression(method["request_validator_id"], "aws_api_gateway_request_validator.body.id")
    assert is_expression(method["request_models"]["application/json"], "aws_api_gateway_model.event[each.key].name")

    validator = module.resource("aws_api_gateway_request_validator", "body")
    assert validator["validate_request_body"] is True

    model = module.resource("aws_api_gateway_model", "event")
    assert model["content_type"] == "application/json"
    assert is_expression(model["schema"], "local.request_schemas[each.key]")
    model_names = {render(model["name"], {"each.value.model": STREAMS[s].model}) for s in STREAM_NAMES}
    assert len(model_names) == len(STREAM_NAMES)
    assert all(re.fullmatch(r"[A-Za-z0-9]+", n) for n in model_names), model_names


def test_api_integrates_with_kinesis_put_record(module: Config) -> None:
    integration = module.resource("aws_api_gateway_integration", "kinesis")
    assert integration["type"] == "AWS"
    assert integration["integration_http_method"] == "POST"
    uri = render(integration["uri"], {"local.partition": "aws", "local.region": "us-east-1"})
    assert uri == "arn:aws:apigateway:us-east-1:kinesis:action/PutRecord"
    assert is_expression(integration["credentials"], "aws_iam_role.apigateway_kinesis.arn")
    assert is_expression(integration["http_method"], "aws_api_gateway_method.post[each.key].http_method")
    assert integration["passthrough_behavior"] == "NEVER"
    assert integration["request_parameters"]["integration.request.header.Content-Type"] == (
        "'application/x-amz-json-1.1'"
    )
    template = unheredoc(integration["request_templates"]["application/json"])
    assert '"StreamName": "${aws_kinesis_stream.this[each.key].name}"' in template
    assert '"Data": "$util.base64Encode($input.body)"' in template
    assert '#set($partitionKey = "${local.partition_key_expressions[each.key]}")' in template
    assert '"PartitionKey": "$util.escapeJavaScript($partitionKey)' in template


def test_partition_key_is_the_entity_key(module: Config, console: ModuleLocals) -> None:
    expressions = console.evaluate("local.partition_key_expressions")
    assert expressions == {
        name: "|".join(f"$input.path('$.key.{field}')" for field in keys) for name, keys in JSON_KEYS.items()
    }
    # The whole mapping template, rendered for each stream as Terraform would.
    template = unheredoc(
        module.resource("aws_api_gateway_integration", "kinesis")["request_templates"]["application/json"]
    )
    resource_names = console.evaluate("local.resource_names")
    for name in STREAM_NAMES:
        rendered = render(
            template,
            {
                "local.partition_key_expressions[each.key]": expressions[name],
                "aws_kinesis_stream.this[each.key].name": resource_names[name],
            },
        )
        assert f'"StreamName": "{ENV}-{name}"' in rendered
        for field in JSON_KEYS[name]:
            assert f"$input.path('$.key.{field}')" in rendered


def _sample_key(stream: str) -> dict[str, Any]:
    return {f.name: (7 if f.type == "int" else "K-1") for f in STREAMS[stream].key}


def _sample_event(stream: str, **changes: Any) -> dict[str, Any]:
    event = {
        "eventId": "6a0d3c1e-58f4-4c5b-9a43-1c2f7d9e0b11",
        "stream": stream,
        "eventType": "upsert",
        "occurredAt": "2026-11-27T10:15:30.123Z",
        "version": 42,
        "key": _sample_key(stream),
        "data": {"any": "thing"},
    }
    event.update(changes)
    return event


def test_request_models_validate_the_envelope(console: ModuleLocals) -> None:
    schemas = {name: json.loads(text) for name, text in console.evaluate("local.request_schemas").items()}
    assert set(schemas) == set(STREAM_NAMES)
    other = {name: STREAM_NAMES[(i + 1) % len(STREAM_NAMES)] for i, name in enumerate(STREAM_NAMES)}
    for name, schema in schemas.items():
        jsonschema.Draft4Validator.check_schema(schema)
        validator = jsonschema.Draft4Validator(schema)
        assert set(schema["required"]) == {"eventId", "stream", "eventType", "occurredAt", "version", "key"}
        assert schema["properties"]["stream"]["enum"] == [name]
        assert schema["properties"]["key"]["required"] == JSON_KEYS[name]

        def valid(event: dict[str, Any], validator=validator) -> bool:
            return validator.is_valid(event)

        assert valid(_sample_event(name))
        assert valid(_sample_event(name, eventType="delete", data=None))
        assert valid({k: v for k, v in _sample_event(name, eventType="delete").items() if k != "data"})
        assert valid(_sample_event(name, occurredAt="2026-11-27T10:15:30+02:00"))
        assert not valid(_sample_event(other[name]))
        assert not valid(_sample_event(name, eventType="update"))
        assert not valid(_sample_event(name, version=0))
        assert not valid(_sample_event(name, version="42"))
        assert not valid(_sample_event(name, eventId="not-a-uuid"))
        assert not valid(_sample_event(name, occurredAt="yesterday"))
        assert not valid(_sample_event(name, key={}))
        assert not valid(_sample_event(name, data=[1]))
        for field in JSON_KEYS[name]:
            key = _sample_key(name)
            del key[field]
            assert not valid(_sample_event(name, key=key)), (name, field)
        string_keys = [f.name for f in STREAMS[name].key if f.type != "int"]
        for field in string_keys:
            assert not valid(_sample_event(name, key={**_sample_key(name), field: ""}))
            assert valid(_sample_event(name, key={**_sample_key(name), field: "x" * MAX_KEY_LENGTH}))
            assert not valid(_sample_event(name, key={**_sample_key(name), field: "x" * (MAX_KEY_LENGTH + 1)}))


def test_request_models_are_the_openapi_documents_schemas(console: ModuleLocals) -> None:
    """API Gateway's models are the checked-in OpenAPI document's schemas, plus draft 4's $schema."""
    document = json.loads(hcl.OPENAPI_JSON.read_text(encoding="utf-8"))
    assert document == openapi.document()  # and that document is what streams.json generates
    models = {name: json.loads(text) for name, text in console.evaluate("local.request_schemas").items()}
    for name in STREAM_NAMES:
        expected = {"$schema": "http://json-schema.org/draft-04/schema#"}
        expected.update(document["components"]["schemas"][openapi.schema_name(name)])
        assert models[name] == expected


def test_module_reads_the_openapi_document(module: Config) -> None:
    assert module.locals["openapi_file"] == "${path.module}/../../openapi.json"
    assert (MODULE / "../../openapi.json").resolve() == hcl.OPENAPI_JSON
    assert is_expression(module.locals["openapi"], "jsondecode(file(local.openapi_file))")


def test_request_models_are_never_stricter_than_the_transform() -> None:
    """Every eventId/occurredAt the transform's validation accepts passes the gateway's patterns."""
    assert openapi.KEY_FIELD_SCHEMAS["string"]["maxLength"] == MAX_KEY_LENGTH
    assert "^" + events.UUID_RE.pattern + "$" == openapi.EVENT_ID_PATTERN
    timestamp_pattern = re.compile(openapi.TIMESTAMP_PATTERN)
    samples = [
        "2026-11-27T10:15:30.123Z",
        "2026-11-27T10:15:30Z",
        "2026-11-27t10:15:30z",
        "2026-11-27 10:15:30+02:00",
        "2026-11-27T10:15:30.123456789-05:30",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2024-02-29T23:59:59-23:59",
        "2026-11-27T10:15:30",
        "2026-11-27",
        "27/11/2026 10:15",
        "2026-11-27T10:15:30.Z",
        "0000-01-01T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:15:60Z",
    ]
    accepted = 0
    for sample in samples:
        try:
            events.parse_timestamp(sample)
        except ValueError:
            continue
        accepted += 1
        assert timestamp_pattern.search(sample), f"the gateway would reject {sample!r}, which the transform accepts"
    assert accepted >= 8


def test_api_responses(module: Config, console: ModuleLocals) -> None:
    responses = console.evaluate("local.integration_responses")
    assert set(responses) == {"200", "500", "503"}
    assert responses["200"]["selection_pattern"] is None
    assert '"sequenceNumber": "$input.path(\'$.SequenceNumber\')"' in responses["200"]["template"]
    assert re.fullmatch(responses["500"]["selection_pattern"], "400")
    assert not re.fullmatch(responses["500"]["selection_pattern"], "503")
    assert re.fullmatch(responses["503"]["selection_pattern"], "500")
    assert "$context.responseOverride.status = 503" in responses["500"]["template"]
    assert "ProvisionedThroughputExceeded" in responses["500"]["template"]

    pairs = console.evaluate("local.stream_responses")
    assert set(pairs) == {f"{s}/{status}" for s in STREAM_NAMES for status in ("200", "500", "503")}
    for type_, name in (
        ("aws_api_gateway_method_response", "post"),
        ("aws_api_gateway_integration_response", "kinesis"),
    ):
        assert is_expression(module.resource(type_, name)["for_each"], "local.stream_responses")

    gateway = {body["response_type"]: body for body in module.resources_of("aws_api_gateway_gateway_response").values()}
    assert gateway["MISSING_AUTHENTICATION_TOKEN"]["status_code"] == "404"
    assert gateway["INVALID_API_KEY"]["status_code"] == "403"
    assert gateway["BAD_REQUEST_BODY"]["status_code"] == "400"
    assert gateway["ACCESS_DENIED"]["status_code"] == "403"
    substitutions = {
        "$context.error.messageString": '"Invalid request body"',
        "$context.requestId": "c0ffee",
    }
    for body in gateway.values():
        text = body["response_templates"]["application/json"]
        for variable, value in substitutions.items():
            text = text.replace(variable, value)
        assert "$context" not in text
        json.loads(text)  # a gateway response template does no escaping: it must be JSON as written


def test_api_key_usage_plan_stage_and_deployment(module: Config) -> None:
    rest_api = module.resource("aws_api_gateway_rest_api", "this")
    assert rest_api["api_key_source"] == "HEADER"

    plan = module.resource("aws_api_gateway_usage_plan", "system_two")
    assert is_expression(block(plan, "api_stages")["stage"], "aws_api_gateway_stage.this.stage_name")
    throttle = block(plan, "throttle_settings")
    assert is_expression(throttle["rate_limit"], "var.api_throttle_rate_limit")
    assert is_expression(throttle["burst_limit"], "var.api_throttle_burst_limit")
    plan_key = module.resource("aws_api_gateway_usage_plan_key", "system_two")
    assert is_expression(plan_key["key_id"], "aws_api_gateway_api_key.system_two.id")
    assert plan_key["key_type"] == "API_KEY"

    stage = module.resource("aws_api_gateway_stage", "this")
    assert stage["xray_tracing_enabled"] is True
    assert is_expression(
        block(stage, "access_log_settings")["destination_arn"], "aws_cloudwatch_log_group.api_access.arn"
    )
    settings = block(module.resource("aws_api_gateway_method_settings", "all"), "settings")
    assert settings["metrics_enabled"] is True
    assert settings["data_trace_enabled"] is False

    log_group = module.resource("aws_cloudwatch_log_group", "api_access")
    assert is_expression(log_group["kms_key_id"], "aws_kms_key.this.arn")
    assert is_expression(log_group["retention_in_days"], "var.log_retention_days")

    deployment = module.resource("aws_api_gateway_deployment", "this")
    trigger = deployment["triggers"]["redeployment"]
    for referenced in (
        "aws_api_gateway_method.post",
        "aws_api_gateway_integration.kinesis",
        "aws_api_gateway_integration_response.kinesis",
        "aws_api_gateway_model.event",
        "aws_api_gateway_gateway_response.not_found",
        "aws_api_gateway_rest_api_policy.this",
    ):
        assert referenced in trigger
    assert trigger.startswith("${sha1(jsonencode(")
    assert block(deployment, "lifecycle")["create_before_destroy"] is True


def test_api_resource_policy_admits_only_system_two(module: Config) -> None:
    attached = module.resource("aws_api_gateway_rest_api_policy", "this")
    assert is_expression(attached["rest_api_id"], "aws_api_gateway_rest_api.this.id")
    assert is_expression(attached["policy"], "data.aws_iam_policy_document.api.json")

    document = module.policy_documents()["api"]
    statements = {s["sid"]: s for s in blocks(document, "statement")}
    allow = statements["SystemTwoPostsEvents"]
    assert allow["effect"] == "Allow"
    assert allow["actions"] == ["execute-api:Invoke"]
    principals = block(allow, "principals")
    assert principals["type"] == "AWS"
    assert is_expression(principals["identifiers"], "var.system_two_principal_arns")
    [resource] = allow["resources"]
    execution_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123"
    values = {"aws_api_gateway_rest_api.this.execution_arn": execution_arn, "var.api_stage_name": "live"}
    assert render(resource, values) == f"{execution_arn}/live/POST/v1/*"

    deny = statements["NobodyElse"]
    assert deny["effect"] == "Deny"
    assert block(deny, "principals")["identifiers"] == ["*"]
    assert render(deny["resources"][0], values) == f"{execution_arn}/*"
    condition = block(deny, "condition")
    assert (condition["test"], condition["variable"]) == ("ArnNotLike", "aws:PrincipalArn")
    assert is_expression(condition["values"], "var.system_two_principal_arns")

    [by_address] = dynamic_blocks(document, "statement")
    content = block(by_address, "content")
    assert content["effect"] == "Deny"
    condition = block(content, "condition")
    assert (condition["test"], condition["variable"]) == ("NotIpAddress", "aws:SourceIp")

    variable = module.variables["system_two_principal_arns"]
    assert "default" not in variable  # required: an API nobody may call is a mistake, not a default
    assert module.variables["api_allowed_source_cidrs"]["default"] == []

    invoke = block(module.policy_documents()["system_two_invoke"], "statement")
    assert invoke["actions"] == ["execute-api:Invoke"]
    assert render(invoke["resources"][0], values) == f"{execution_arn}/live/POST/v1/*"


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

    # Other notifications (error files) go elsewhere, never to the ingest queue.
    others = blocks(notification, "queue")
    for other in others:
        assert not is_expression(other["queue_arn"], "aws_sqs_queue.ingest.arn")
    all_prefixes = sorted(
        prefixes | {render(o["filter_prefix"], {"local.error_prefix_root": "errors/"}) for o in others}
    )
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
    # The notification queue and the failed-records queue (rejected records for the redrive); not the DLQ.
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
    for name in ("worker", "web"):
        [get] = [s for s in _statements(module, name).values() if s["actions"] == ["s3:GetObject"]]
        assert _resolve(module, get["resources"]) == stream_files, name
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
