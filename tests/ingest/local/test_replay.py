"""The replay cache: a signature is accepted once, even when copies race in separate connections
(gunicorn workers are separate processes; here, threads with their own database connections)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from ingest.local.replay import first_use
from ingest.models import SeenSignature


# PostgreSQL: SQLite's in-memory test database shares one cache between connections, whose
# table locks ignore the busy timeout (a file database, as the demo uses, waits instead).
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_copies_of_one_signature_are_accepted_once():
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(minutes=5)
    copies = 8
    barrier = threading.Barrier(copies)
    results: list[bool] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait(10)
            results.append(first_use("ab" * 32, expires, now))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(results) == [False] * (copies - 1) + [True]
    assert SeenSignature.objects.count() == 1


@pytest.mark.django_db
def test_an_expired_signature_is_forgotten_and_others_are_kept():
    now = dt.datetime.now(dt.UTC)
    assert first_use("aa" * 32, now - dt.timedelta(seconds=1), now - dt.timedelta(minutes=10))
    assert first_use("bb" * 32, now + dt.timedelta(minutes=5), now - dt.timedelta(minutes=10))
    assert first_use("cc" * 32, now + dt.timedelta(minutes=5), now)
    assert set(SeenSignature.objects.values_list("signature", flat=True)) == {"bb" * 32, "cc" * 32}
    assert not first_use("bb" * 32, now + dt.timedelta(minutes=5), now)
