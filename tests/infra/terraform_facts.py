"""What the Terraform tests share: the streams as streams.json lists them, the module's files, the environment.

The tests under tests/infra/test_*.py check that the Terraform in infra/ parses and wires every stream
of transforms/streams.json.

``terraform validate`` needs the AWS provider, which CI (and this repository's sandbox) cannot
download; these tests read the HCL with python-hcl2 instead, and evaluate the module's
stream-derived locals from that HCL in Python (``hcl_eval``: what ``terraform console`` would
print, without the binary). What only a real ``terraform validate/plan`` can catch is listed in
docs/deploy.md.
"""

from __future__ import annotations

import json

from .hcl import (
    MODULE,
    STREAMS_JSON,
    Config,
)

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


def each_key(stream: str) -> dict[str, str]:
    return {"each.key": stream}


def local_string(module: Config, name: str) -> str:
    """A local that is a plain string literal (no interpolation)."""
    value = module.locals[name]
    assert isinstance(value, str) and "${" not in value, f"local.{name} is not a literal string: {value!r}"
    return value
