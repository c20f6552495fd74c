"""Several workers importing overlapping files at the same time converge to the fold (PostgreSQL)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection

from ingest.models import ImportAttempt, ImportFile
from ingest.services.importing.exceptions import ImportBusy
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.comparator import differences
from ingest.testing.event_generator import generate_events
from ingest.testing.oracle import expected_state
from ingest.testing.samples import write_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _worker(paths, seed: int, errors: list) -> None:
    rng = random.Random(seed)
    order = list(paths)
    rng.shuffle(order)
    try:
        for path in order:
            f, _ = register_local_file(path)
            for _attempt in range(200):
                try:
                    import_file(f.pk, trigger=f"thread-{seed}")
                    break
                except ImportBusy:
                    time.sleep(0.01)
            else:
                errors.append(f"{path}: busy for too long")
    except Exception as exc:  # reported to the test's thread
        errors.append(repr(exc))
    finally:
        connection.close()


def test_overlapping_files_imported_concurrently_converge(tmp_path):
    events = generate_events(1500, seed=11)
    shuffled = list(events)
    random.Random(3).shuffle(shuffled)
    # The same events twice, cut into different files: every key is written by several files.
    paths = write_files(events, tmp_path / "a", per_file=60) + write_files(shuffled, tmp_path / "b", per_file=45)
    errors: list[str] = []
    threads = [threading.Thread(target=_worker, args=(paths, seed, errors)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert ImportFile.objects.count() == len(paths)
    assert list(ImportFile.objects.exclude(status="imported").values_list("error_message", flat=True)) == []
    # Four workers were handed every file: each file was still imported exactly once.
    assert ImportAttempt.objects.count() == len(paths)
    assert differences(expected_state(events)) == []
