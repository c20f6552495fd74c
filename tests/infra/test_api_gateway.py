"""The Terraform in infra/: The import API (API Gateway).

How the HCL is read: tests/infra/terraform_facts.py."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from transforms import events, openapi
from transforms.streams import MAX_KEY_LENGTH, STREAM_NAMES, STREAMS

from . import hcl
from .hcl import (
    MODULE,
    Config,
    block,
    blocks,
    dynamic_blocks,
    is_expression,
    render,
    unheredoc,
)
from .hcl_eval import ModuleLocals
from .terraform_facts import (
    ENV,
    JSON_KEYS,
    JSON_STREAM_NAMES,
    each_key,
)

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
