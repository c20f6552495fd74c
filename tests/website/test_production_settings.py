"""DJANGO_ENV=production refuses to start unsafe, and `manage.py check --deploy` is clean with the
documented production variables (README's configuration table). Each case is a fresh process:
the settings are read once, at start-up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "INGEST_", "DATABASE_", "CELERY_"))}
    env.update(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="admin.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        INGEST_BUCKET="prod-erp-ingest",
        INGEST_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/prod-erp-ingest-files",
    )
    env.update(overrides)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def settings_of(env: dict[str, str], *names: str) -> list[str]:
    code = "from django.conf import settings; " + "; ".join(f"print(repr(settings.{n}))" for n in names)
    result = run(env, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_check_deploy_is_clean_with_the_documented_variables(tmp_path):
    result = run(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be off"),
        ({"DJANGO_SECRET_KEY": "short-but-random-3f9a"}, "at least 50 are needed"),
        ({"DJANGO_SECRET_KEY": "ab" * 40}, "fewer than 5 distinct characters"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(64)}, "development default"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
        ({"INGEST_LOCAL_API_ENABLED": "true"}, "INGEST_API_SECRET must be set"),
    ],
)
def test_production_refuses_to_start_unsafe(tmp_path, overrides, reason):
    result = run(production_env(tmp_path, **overrides), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr


def test_production_defaults_are_https_only(tmp_path):
    values = settings_of(
        production_env(tmp_path),
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "INGEST_LOCAL_API_ENABLED",
    )
    proxy_header = "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert values == ["False", "True", "31536000", "True", proxy_header, "True", "True", "False"]


def test_the_https_settings_come_from_the_environment(tmp_path):
    env = production_env(
        tmp_path,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
    )
    values = settings_of(
        env,
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    )
    assert values == ["False", "600", "('HTTP_X_FORWARDED_SCHEME', 'https')", "False", "False"]
    assert settings_of(production_env(tmp_path, DJANGO_SECURE_PROXY_SSL_HEADER="none"), "SECURE_PROXY_SSL_HEADER") == [
        "None"
    ]


def test_development_defaults_stay_plain_http(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "INGEST_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    values = settings_of(env, "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER")
    assert values == ["True", "False", "0", "None"]
