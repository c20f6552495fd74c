"""The Terraform in infra/: The module's layout, and the one list of streams.

How the HCL is read: tests/infra/terraform_facts.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transforms.streams import STREAM_NAMES, STREAMS

from . import hcl
from .hcl import (
    EXAMPLE,
    INFRA,
    MODULE,
    REPO_ROOT,
    STREAMS_JSON,
    Config,
    block,
    is_expression,
    render,
)
from .hcl_eval import ModuleLocals
from .terraform_facts import (
    ENV,
    JSON_KEYS,
    JSON_STREAM_NAMES,
    MODULE_FILES,
    PATH_MODULE,
    STREAMS_DOC,
)

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
