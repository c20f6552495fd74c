"""The Python evaluator of the module's locals agrees with Terraform's semantics where they are
easy to get wrong: heredocs, escapes, for-expressions, key order, what needs a provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .hcl_eval import ModuleLocals, Unsupported

LOCALS = r"""
locals {
  doc      = jsondecode(file("${path.module}/doc.json"))
  by_name  = { for s in local.doc.items : s.name => s if s.enabled }
  names    = sort(keys(local.by_name))
  labels   = [for i, n in local.names : "${i}:${n}-${var.environment}"]
  pairs    = { for p in setproduct(["a", "b"], ["1"]) : "${p[0]}/${p[1]}" => p }
  escaped  = "tab\there \"quoted\" 4\\d{2} $${not.interpolated} \u00e9"
  pick     = var.environment == "prod" ? "big" : "small"
  encoded  = jsonencode({ b = 1, a = [true, null] })
  template = <<-EOT
    {"x": "$input.body"}
      indented
  EOT
  account  = data.aws_caller_identity.current.account_id
}
"""


@pytest.fixture
def module(tmp_path: Path) -> ModuleLocals:
    (tmp_path / "main.tf").write_text(LOCALS, encoding="utf-8")
    doc = {"items": [{"name": "z", "enabled": True}, {"name": "m", "enabled": False}, {"name": "b", "enabled": True}]}
    (tmp_path / "doc.json").write_text(json.dumps(doc), encoding="utf-8")
    return ModuleLocals(tmp_path, {"environment": "dev"})


def test_for_expressions_filter_and_iterate_maps_in_key_order(module: ModuleLocals) -> None:
    assert module.evaluate("local.names") == ["b", "z"]
    assert module.evaluate("local.labels") == ["0:b-dev", "1:z-dev"]
    assert module.evaluate("local.pairs") == {"a/1": ["a", "1"], "b/1": ["b", "1"]}
    assert module.evaluate("{for k, v in local.by_name : k => v.enabled}") == {"b": True, "z": True}


def test_strings_escapes_and_heredocs(module: ModuleLocals) -> None:
    assert module.evaluate("local.escaped") == 'tab\there "quoted" 4\\d{2} ${not.interpolated} é'
    # <<- strips the common indentation and keeps the final newline, as Terraform does.
    assert module.evaluate("local.template") == '{"x": "$input.body"}\n  indented\n'
    assert module.evaluate("local.pick") == "small"
    assert json.loads(module.evaluate("local.encoded")) == {"a": [True, None], "b": 1}


def test_what_needs_a_provider_is_refused(module: ModuleLocals) -> None:
    with pytest.raises(Unsupported, match="data"):
        module.evaluate("local.account")
    with pytest.raises(Unsupported, match="no local"):
        module.evaluate("local.missing")
