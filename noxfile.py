"""The project's task runner: `nox -s lint types test-fast test-pg bench` (and `checks`, `test`,
`chaos`). Sessions run in the current environment (the README's `.venv`): nothing is installed
here, `requirements-dev.txt` pins everything, and `.ci/run` calls these same sessions."""

from __future__ import annotations

import os
import secrets

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "types", "checks", "test", "test-pg"]

PG_URL = os.environ.get("NOX_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ingest")


def pytest(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    """pytest's exit 5 (it collected no test) fails the session like any other failure: a run that
    tested nothing is not a pass."""
    session.run("python", "-m", "pytest", *args, *session.posargs, env=env, success_codes=[0])


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and the layer rules (import-linter, pyproject.toml)."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def types(session: nox.Session) -> None:
    """mypy over transforms/, ingest/, website/ and tests/ (pyproject.toml)."""
    session.run("mypy")


@nox.session
def checks(session: nox.Session) -> None:
    """Django's checks, migrations, the production deployment checks, the OpenAPI document."""
    session.run("python", "manage.py", "check")
    session.run("python", "manage.py", "makemigrations", "--check", "--dry-run")
    production = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "admin.example.com",
        "DATABASE_URL": PG_URL,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "INGEST_BUCKET": "ci-erp-ingest",
        "INGEST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ci-erp-ingest-files",
    }
    session.run("python", "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production)
    session.run("python", "-m", "transforms.openapi", "--check")


@nox.session(name="test-fast")
def test_fast(session: nox.Session) -> None:
    """The developers' loop: SQLite, without the tests marked slow."""
    pytest(session, "-m", "not slow and not chaos", env={"DATABASE_URL": ""})


@nox.session
def test(session: nox.Session) -> None:
    """Everything but chaos on SQLite (the PostgreSQL-only tests skip)."""
    pytest(session, env={"DATABASE_URL": ""})


@nox.session(name="test-pg")
def test_pg(session: nox.Session) -> None:
    """Everything but chaos on PostgreSQL (NOX_DATABASE_URL, default .../ingest)."""
    pytest(session, env={"DATABASE_URL": PG_URL})


@nox.session
def chaos(session: nox.Session) -> None:
    """Fault injection and the soak, on PostgreSQL."""
    pytest(session, "-m", "chaos", env={"DATABASE_URL": PG_URL})


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (docs/benchmarks.md): each prints its figures and ratios; pass one module's
    name to run only it, e.g. `nox -s bench -- import_ceiling`."""
    wanted = session.posargs or ["import_ceiling", "import_load", "parse_lines", "small_files", "pipeline_lag"]
    for name in wanted:
        session.run("python", "-m", f"tests.bench.{name}", env={"DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/postgres"})
