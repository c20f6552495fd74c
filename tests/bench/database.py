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
