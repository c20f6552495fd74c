"""Typed access to environment variables, with loud failures for production secrets."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

PRODUCTION = os.environ.get("DJANGO_ENV", "development").strip().lower() == "production"


def env_str(name: str, default: str = "", *, required_in_production: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if PRODUCTION and required_in_production:
            raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false)")


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from exc


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc


def env_list(name: str, default: list[str], *, required_in_production: bool = False) -> list[str]:
    raw = env_str(name, "", required_in_production=required_in_production)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
