"""Reading the Terraform in infra/ for tests: python-hcl2 8.x, normalised.

python-hcl2 8 keeps HCL's quotes (``'"foo"'``) and marks blocks with ``__is_block__`` unless
told otherwise; ``load_tf`` asks for plain values (``strip_string_quotes``), keeps heredocs
recognisable (``preserve_heredocs``, stripped by ``unheredoc``) and drops block markers and
comments. Expressions stay HCL text wrapped in ``${...}``: ``for_each = local.streams`` reads
``"${local.streams}"``.

``render`` evaluates the simple string templates the tests care about (``"${each.key}/..."``)
with the given values; ``hcl_eval`` evaluates the module's locals.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
MODULE = INFRA / "modules" / "ingest_pipeline"
EXAMPLE = INFRA / "environments" / "example"
STREAMS_JSON = REPO_ROOT / "transforms" / "streams.json"
OPENAPI_JSON = INFRA / "openapi.json"

OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True,
    explicit_blocks=False,
    preserve_heredocs=True,
    with_comments=False,
)

_HEREDOC = re.compile(r"\A<<(-?)([A-Za-z_][A-Za-z0-9_]*)\n(.*)\n[ \t]*\2\Z", re.DOTALL)
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")


def tf_files(root: Path = INFRA) -> list[Path]:
    return sorted(root.rglob("*.tf"))


def load_tf(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return hcl2.load(f, serialization_options=OPTIONS)


def unheredoc(value: str) -> str:
    """The text of a heredoc as Terraform sees it (``<<-`` strips the common indentation)."""
    m = _HEREDOC.match(value)
    if m is None:
        return value
    body = m.group(3)
    if m.group(1):
        body = textwrap.dedent(body)
    return body + "\n"


def is_expression(value: object, expression: str) -> bool:
    """``value`` is exactly the HCL expression ``expression`` (``for_each = local.streams``)."""
    return isinstance(value, str) and value.replace(" ", "") == "${" + expression.replace(" ", "") + "}"


def render(template: str, values: dict[str, str]) -> str:
    """Substitute ``${name}`` for each name in ``values``; any other interpolation is an error."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        if name not in values:
            raise KeyError(f"cannot render {template!r}: no value for ${{{name}}}")
        return values[name]

    return _INTERPOLATION.sub(sub, template)


class Config:
    """The blocks of a directory of .tf files, merged: ``resource(type, name)``, ``locals``..."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = {path.name: load_tf(path) for path in sorted(directory.glob("*.tf"))}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        for parsed in self.files.values():
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for block in parsed.get(kind, []):
                    for type_, named in block.items():
                        for name, body in named.items():
                            assert (type_, name) not in target, f"duplicate {kind} {type_}.{name}"
                            target[(type_, name)] = body
            for block in parsed.get("locals", []):
                for name, value in block.items():
                    assert name not in self.locals, f"duplicate local {name}"
                    self.locals[name] = value
            for block in parsed.get("variable", []):
                self.variables.update(block)
            for block in parsed.get("output", []):
                self.outputs.update(block)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        assert (type_, name) in self.resources, f"no resource {type_}.{name} in {self.directory}"
        return self.resources[(type_, name)]

    def resources_of(self, type_: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == type_}

    def policy_documents(self) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.data.items() if t == "aws_iam_policy_document"}


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The nested blocks ``name`` of a block body (always a list)."""
    value = body.get(name, [])
    if isinstance(value, dict):
        return [value]
    return list(value)


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    found = blocks(body, name)
    assert len(found) == 1, f"expected one {name!r} block, found {len(found)}"
    return found[0]


def dynamic_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The ``dynamic "<name>"`` blocks of a block body."""
    return [d[name] for d in blocks(body, "dynamic") if name in d]
