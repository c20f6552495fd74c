"""Every unsafe production start is refused: an undocumented DJANGO_ENV, and the documented
development secrets (or weak ones) for the local import API and the metrics token. Each case runs
``manage.py check --deploy`` in a fresh process, as CI and an operator would."""

from __future__ import annotations

import secrets

import pytest

from tests.website.test_production_settings import production_env, run, settings_of

STRONG = secrets.token_urlsafe(32)


def refused(result, *reasons: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    for reason in reasons:
        assert reason in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("value", ["prod", "Prod", "staging", "test", "productio", "production-eu", "1"])
def test_an_undocumented_django_env_does_not_start(tmp_path, value):
    # With nothing else set, too: "prod" used to give DEBUG, the insecure key and the public secret.
    refused(run(production_env(tmp_path, DJANGO_ENV=value), "check", "--deploy"), f"DJANGO_ENV={value!r}")
    bare = {k: v for k, v in production_env(tmp_path).items() if not k.startswith(("DJANGO_", "INGEST_"))}
    refused(run({**bare, "DJANGO_ENV": value}, "check"), "development, production")


@pytest.mark.parametrize(("value", "production"), [("", "False"), ("development", "False"), (" Production ", "True")])
def test_the_documented_values_start(tmp_path, value, production):
    env = production_env(tmp_path, DJANGO_ENV=value)
    if production == "False":
        env = {k: v for k, v in env.items() if k != "DJANGO_SECRET_KEY"}
    assert settings_of(env, "INGEST_LOCAL_API_ENABLED") == [str(production == "False")]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"INGEST_API_SECRET": "local-development-secret"}, "INGEST_API_SECRET is the documented development value"),
        ({"INGEST_API_SECRET": "s3cret"}, "INGEST_API_SECRET is 6 characters long"),
        ({"INGEST_API_SECRET": "ab" * 20}, "INGEST_API_SECRET has fewer than 5 distinct"),
        ({"INGEST_API_SECRET": "django-insecure-local-development-key-not-for-production"}, "development value"),
    ],
)
def test_production_refuses_the_local_api_with_a_public_or_weak_secret(tmp_path, overrides, reason):
    env = production_env(tmp_path, INGEST_LOCAL_API_ENABLED="true", **overrides)
    refused(run(env, "check", "--deploy"), reason, "the local import API is enabled")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("local-development-secret", "INGEST_METRICS_TOKEN is the documented development value"),
        ("s3cret-metrics-token", "INGEST_METRICS_TOKEN is 20 characters long"),
        ("x" * 64, "INGEST_METRICS_TOKEN has fewer than 5 distinct"),
    ],
)
def test_production_refuses_a_public_or_weak_metrics_token(tmp_path, token, reason):
    env = production_env(tmp_path, INGEST_METRICS_ENABLED="true", INGEST_METRICS_TOKEN=token)
    refused(run(env, "check", "--deploy"), reason, "INGEST_METRICS_ENABLED")


def test_strong_secrets_pass_check_deploy(tmp_path):
    env = production_env(
        tmp_path,
        INGEST_LOCAL_API_ENABLED="true",
        INGEST_API_SECRET=STRONG,
        INGEST_METRICS_ENABLED="true",
        INGEST_METRICS_TOKEN=secrets.token_urlsafe(32),
    )
    result = run(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_unused_secrets_are_not_checked(tmp_path):
    # The local API and the metrics are off: their secrets are never used, so not refused.
    env = production_env(tmp_path, INGEST_API_SECRET="local-development-secret", INGEST_METRICS_TOKEN="x")
    assert run(env, "check", "--deploy", "--fail-level", "WARNING").returncode == 0


def test_development_keeps_its_documented_secrets(tmp_path):
    env = {k: v for k, v in production_env(tmp_path).items() if not k.startswith(("DJANGO_", "INGEST_"))}
    assert settings_of(env, "INGEST_API_SECRET", "INGEST_LOCAL_API_ENABLED") == ["'local-development-secret'", "True"]
