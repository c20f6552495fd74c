"""Fixtures of the Terraform tests: the module and the example, parsed, and the module's evaluated locals."""

from __future__ import annotations

import pytest

from .hcl import EXAMPLE, MODULE, Config
from .hcl_eval import ModuleLocals
from .terraform_facts import ENV


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
