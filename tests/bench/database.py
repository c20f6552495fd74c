"""A PostgreSQL database of a benchmark's own, beside the one DATABASE_URL names."""

from __future__ import annotations


def create_bench_database(url: str, suffix: str) -> tuple[str, str]:
    """(Re)create ``<name>_<suffix>`` on the server of ``url``; returns its URL and its name."""
    import psycopg

    base, _, name = url.rpartition("/")
    bench_name = f"{name or 'postgres'}_{suffix}"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{bench_name}"')
    return f"{base}/{bench_name}", bench_name


def drop_bench_database(url: str, bench_name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)')


def outside_transaction(*statements: str) -> None:
    """Statements that cannot run inside a transaction (VACUUM, CHECKPOINT), on a connection of
    their own to the database Django is set up on."""
    import psycopg
    from django.db import connection

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def postgres_url() -> str | None:
    """The server the benchmarks run on (DATABASE_URL), or None, said on stderr, when it is not PostgreSQL."""
    import os
    import sys

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not url.startswith(("postgres://", "postgresql://")):
        print("this benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return None
    return url


def setup_django(**env: str) -> None:
    """Django on the benchmark's settings (``env`` added to the environment first), migrated.

    DEBUG stays off unless asked: with it on Django keeps every query in memory."""
    import os
    import sys
    from pathlib import Path

    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "website.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
