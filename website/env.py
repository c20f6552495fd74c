"""Typed access to environment variables, with loud failures for production secrets."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# The documented values of DJANGO_ENV (README's configuration table); any other refuses to start,
# lest a typo ("prod") silently give a production host the development defaults.
ENVIRONMENTS = ("development", "production")


def django_env(value: str | None) -> str:
    """The environment DJANGO_ENV names (unset or empty: development); ImproperlyConfigured for any
    value that is not documented."""
    name = (value or "").strip().lower() or "development"
    if name not in ENVIRONMENTS:
        raise ImproperlyConfigured(f"DJANGO_ENV={value!r} is not one of {', '.join(ENVIRONMENTS)}; nothing else starts")
    return name


PRODUCTION = django_env(os.environ.get("DJANGO_ENV")) == "production"


def aws_retries(max_attempts: int) -> dict[str, Any]:
    """botocore's retry settings for ``AWS_MAX_ATTEMPTS`` as the AWS SDKs mean it: every attempt,
    the first included. botocore's own ``max_attempts`` key counts the retries only (one more
    attempt than it says); ``total_max_attempts`` is the SDKs' meaning."""
    return {"total_max_attempts": max(1, max_attempts), "mode": "standard"}


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


# Django's own bar (django.core.checks.security.base): --deploy only warns, production refuses.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
INSECURE_KEY_PREFIX = "django-insecure-"


def secret_key_weakness(value: str) -> str | None:
    """Why ``value`` is not a secret key fit for production (None if it is)."""
    if value.startswith(INSECURE_KEY_PREFIX):
        return f"starts with {INSECURE_KEY_PREFIX!r} (the development default)"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"is {len(value)} characters long; at least {SECRET_KEY_MIN_LENGTH} are needed"
    if len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters"
    return None


# The development values the documentation shows (README, the demo): known to anyone, so
# production refuses them for any secret, as it refuses Django's insecure key.
DEVELOPMENT_SECRETS = frozenset(
    {"local-development-secret", "django-insecure-local-development-key-not-for-production"}
)
# A shared secret (HMAC key, bearer token) must be at least this long in production.
SHARED_SECRET_MIN_LENGTH = 32


def shared_secret_weakness(value: str) -> str | None:
    """Why ``value`` is not a shared secret (the local API's HMAC key, the metrics token) fit for
    production (None if it is)."""
    if not value:
        return "must be set"
    if value in DEVELOPMENT_SECRETS or value.startswith(INSECURE_KEY_PREFIX):
        return "is the documented development value, known to anyone who read the README"
    if len(value) < SHARED_SECRET_MIN_LENGTH:
        return f"is {len(value)} characters long; at least {SHARED_SECRET_MIN_LENGTH} are needed"
    if len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters"
    return None


def require_production_secret(name: str, value: str, *, because: str) -> None:
    """With DJANGO_ENV=production, refuse a missing, weak or documented ``name`` at start-up."""
    if not PRODUCTION:
        return
    weakness = shared_secret_weakness(value)
    if weakness:
        raise ImproperlyConfigured(
            f"{name} {weakness} ({because} with DJANGO_ENV=production); generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def require_production_safe(*, debug: bool, secret_key: str) -> None:
    """With DJANGO_ENV=production, refuse DEBUG and a weak DJANGO_SECRET_KEY at start-up."""
    if not PRODUCTION:
        return
    if debug:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_ENV=production")
    weakness = secret_key_weakness(secret_key)
    if weakness:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY {weakness}; generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
