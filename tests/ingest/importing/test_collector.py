"""The cycle collector runs less often while any import runs, and as before afterwards."""

from __future__ import annotations

import gc

import pytest

from ingest.services.importing.collector import IMPORT_GC_THRESHOLD, fewer_collections


@pytest.fixture
def default_thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_threshold_is_raised_inside_and_restored_when_the_last_caller_leaves(default_thresholds):
    outer = fewer_collections()
    outer.__enter__()
    with fewer_collections():
        assert gc.get_threshold() == (IMPORT_GC_THRESHOLD, 10, 10)
    # Another import still runs: the threshold stays raised.
    assert gc.get_threshold() == (IMPORT_GC_THRESHOLD, 10, 10)
    outer.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_import_raises(default_thresholds):
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the import failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_disabled_threshold_stays_disabled(default_thresholds):
    gc.set_threshold(0)
    with fewer_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0
