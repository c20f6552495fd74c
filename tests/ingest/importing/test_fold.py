"""The contract's central promise: whatever the order in which files arrive, and however often,
the database ends equal to the fold "highest version per key wins" of the events."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.testing.comparator import differences
from ingest.testing.database import reset_tables
from ingest.testing.event_generator import generate_events
from ingest.testing.oracle import expected_state
from ingest.testing.samples import write_files

pytestmark = pytest.mark.django_db(transaction=False)


def _import_all(paths: list[Path], order: list[int], twice: set[int]) -> None:
    for index in order:
        for _ in range(2 if index in twice else 1):
            f, _created = register_local_file(paths[index])
            if f.status != "pending":
                # A second import of the same content: set back to pending, as `reimport` does.
                f.status = "pending"
                f.save(update_fields=["status"])
            outcome = import_file(f.pk, trigger="test")
            assert outcome.status == "imported", (outcome, f.error_message)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_import_in_arrival_order_equals_fold(seed, tmp_path):
    events = generate_events(600, seed=seed)
    paths = write_files(events, tmp_path, per_file=40)
    _import_all(paths, list(range(len(paths))), set())
    assert differences(expected_state(events)) == []


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), seed=st.integers(0, 10_000), per_file=st.sampled_from([1, 7, 50]))
def test_any_order_and_repeats_equal_fold(data, seed, per_file):
    events = generate_events(250, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(events, Path(folder), per_file=per_file)
        order = data.draw(st.permutations(range(len(paths))), label="file order")
        twice = data.draw(st.sets(st.sampled_from(range(len(paths)))), label="imported twice") if paths else set()
        reset_tables()
        _import_all(paths, list(order), twice)
        assert differences(expected_state(events)) == []


@pytest.mark.slow
def test_events_shuffled_within_files_equal_fold(tmp_path):
    events = generate_events(400, seed=42)
    rng = random.Random(7)
    for round_ in range(3):
        rng.shuffle(events)
        reset_tables()
        paths = write_files(events, tmp_path / str(round_), per_file=13)
        _import_all(paths, list(range(len(paths))), set())
        assert differences(expected_state(events)) == []
