"""Parsing runs one batch ahead of the loader in a second thread: never more, whatever the file's size."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.services.importing.read_ahead import read_ahead
from ingest.services.importing.run import _ParsedBatch


def test_the_parser_is_never_more_than_one_batch_ahead():
    produced = 0

    def batches():
        nonlocal produced
        for n in range(8):
            produced += 1
            yield _ParsedBatch([n], [], 1, last=n == 7)

    ahead = []
    for consumed, batch in enumerate(read_ahead(batches()), start=1):
        time.sleep(0.05)  # the loader's database time: the parser runs as far ahead as it may
        ahead.append(produced - consumed)
        assert batch.events == [consumed - 1]
    assert len(ahead) == 8 and max(ahead) == 1


def test_a_parser_error_reaches_the_loader_and_the_thread_ends():
    def batches():
        yield _ParsedBatch([0], [], 1)
        yield _ParsedBatch([1], [], 1)
        raise ValueError("the parser broke")

    taken = []
    with pytest.raises(ValueError, match="the parser broke"):
        for batch in read_ahead(batches()):
            taken.append(batch.events[0])
    assert taken == [0, 1]
    time.sleep(0.3)
    assert not any(t.name == "ingest-parse" for t in threading.enumerate())


def test_a_loader_that_stops_early_ends_the_parse_thread():
    def batches():
        n = 0
        while True:
            yield _ParsedBatch([n], [], 1)
            n += 1

    for batch in read_ahead(batches()):
        if batch.events[0] == 2:
            break  # the loader failed: the generator is closed
    time.sleep(0.3)
    assert not any(t.name == "ingest-parse" for t in threading.enumerate())
