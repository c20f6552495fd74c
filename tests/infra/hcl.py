"""Reading the Terraform in infra/ for tests: python-hcl2 8.x, normalised.

python-hcl2 8 keeps HCL's quotes (``'"foo"'``) and marks blocks with ``__is_block__`` unless
told otherwise; ``load_tf`` asks for plain values (``strip_string_quotes``), keeps heredocs
recognisable (``preserve_heredocs``, stripped by ``unheredoc``) and drops block markers and
comments. Expressions stay HCL text wrapped in ``${...}``: ``for_each = local.streams`` reads
``"${local.streams}"``.

``render`` evaluates the simple string templates the tests care about (``"${each.key}/..."``)
with the given values, and ``TerraformConsole`` evaluates real HCL expressions with the
installed ``terraform`` binary (no provider needed) where that matters.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
MODULE = INFRA / "modules" / "ingest_pipeline"
EXAMPLE = INFRA / "environments" / "example"
STREAMS_JSON = REPO_ROOT / "transforms" / "streams.json"

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


class TerraformConsole:
    """Evaluates HCL expressions of the module's locals with ``terraform console``.

    The module's ``locals`` that depend only on ``path.module``, ``var.environment`` and other
    such locals are copied into a scratch configuration laid out like the repository (so that
    ``${path.module}/../../../transforms/streams.json`` is the real file's copy), and every
    expression is evaluated there, as Terraform would. No provider or network is needed.
    """

    def __init__(self, scratch: Path, environment: str = "pre-prod") -> None:
        self.terraform = shutil.which("terraform")
        if self.terraform is None:
            raise FileNotFoundError("terraform is not installed")
        raw_locals: dict[str, Any] = {}
        for path in tf_files(MODULE):
            with path.open(encoding="utf-8") as f:
                # The round-trippable form for hcl2.dumps; heredocs as quoted strings, because
                # hcl2 8.1 writes a heredoc inside an object with a comma after its end marker.
                parsed = hcl2.load(f, serialization_options=hcl2.SerializationOptions(preserve_heredocs=False))
            for blk in parsed.get("locals", []):
                raw_locals.update({k: v for k, v in blk.items() if not k.startswith("__")})
        self.local_names = self._evaluable(raw_locals)
        module_dir = scratch / "infra" / "modules" / "ingest_pipeline"
        module_dir.mkdir(parents=True)
        (scratch / "transforms").mkdir()
        shutil.copyfile(STREAMS_JSON, scratch / "transforms" / "streams.json")
        chosen = {name: raw_locals[name] for name in self.local_names}
        chosen["__is_block__"] = True
        text = hcl2.dumps({"locals": [chosen]})
        text += f'\nvariable "environment" {{\n  type    = string\n  default = "{environment}"\n}}\n'
        (module_dir / "main.tf").write_text(text, encoding="utf-8")
        self.directory = module_dir

    @staticmethod
    def _evaluable(raw_locals: dict[str, Any]) -> list[str]:
        text = {name: json.dumps(value) for name, value in raw_locals.items()}
        ok: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, source in text.items():
                if name in ok or "data." in source:
                    continue
                if set(re.findall(r"\bvar\.([A-Za-z0-9_]+)", source)) - {"environment"}:
                    continue
                if set(re.findall(r"\blocal\.([A-Za-z0-9_]+)", source)) <= ok:
                    ok.add(name)
                    changed = True
        return sorted(ok)

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` (HCL), decoded from ``jsonencode``."""
        result = subprocess.run(
            [self.terraform, "console"],
            input=f"jsonencode({expression})\n",
            capture_output=True,
            text=True,
            cwd=self.directory,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"terraform console failed for {expression!r}:\n{result.stderr}")
        # The console prints the jsonencode() string as an HCL string literal; JSON reads it.
        # HCL escapes a literal "${" / "%{" as "$${" / "%%{", which JSON does not know.
        literal = result.stdout.strip().splitlines()[-1].replace("$${", "${").replace("%%{", "%{")
        return json.loads(json.loads(literal))
