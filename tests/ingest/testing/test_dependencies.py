"""The pipeline runs on requirements.txt alone: moto, the test tools and the harness
(``ingest.testing``, ``ingest.demo``) stay out of everything the web, consumer and worker
processes import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEV_ONLY = {"moto", "pytest", "pytest_django", "hypothesis", "playwright", "psutil", "hcl2", "requests"}
HARNESS = ("ingest/demo/", "ingest/testing/")
# The command that runs the demo is the one door from the pipeline to the harness.
DEMO_COMMAND = "ingest/management/commands/demo.py"


def runtime_modules() -> list[Path]:
    paths = [p for top in ("ingest", "website", "transforms") for p in (ROOT / top).rglob("*.py")]
    return sorted(p for p in paths if not str(p.relative_to(ROOT)).startswith(HARNESS) and p != ROOT / DEMO_COMMAND)


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_no_runtime_module_imports_the_harness_or_a_dev_tool():
    offenders = []
    for path in runtime_modules():
        for name in imported_names(path):
            top = name.split(".", 1)[0]
            if top in DEV_ONLY or name.startswith(("ingest.testing", "ingest.demo")):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert runtime_modules(), "no module found"
    assert offenders == []


def test_requirements_txt_is_the_runtime_and_the_dev_file_adds_the_rest():
    runtime = requirement_names(ROOT / "requirements.txt")
    dev = requirement_names(ROOT / "requirements-dev.txt")
    assert {"django", "celery", "boto3", "psycopg", "gunicorn"} <= runtime
    assert runtime.isdisjoint({"moto", "pytest", "pytest-django", "hypothesis", "playwright", "ruff", "mypy"})
    assert {"moto", "pytest", "pytest-django", "hypothesis", "playwright", "ruff", "mypy"} <= dev
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()


BLOCKER = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in {blocked!r}:
            raise ModuleNotFoundError(f"{{name}} is a development dependency", name=name)
        return None

sys.meta_path.insert(0, Block())
import django, importlib, pkgutil
django.setup()
import ingest, website
for package in (ingest, website):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.startswith(("ingest.demo", "ingest.testing")):
            importlib.import_module(info.name)
from django.core.management import call_command
call_command("check")
print("imported without the development dependencies")
"""


def test_the_pipeline_imports_and_checks_without_the_development_dependencies():
    env = {"DJANGO_SETTINGS_MODULE": "website.settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=DEV_ONLY)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported without the development dependencies" in result.stdout
