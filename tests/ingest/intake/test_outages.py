"""An outage is two log lines, whatever the number of failed calls in between."""

from __future__ import annotations

import logging

from ingest.services.intake.outages import Outage


def test_one_line_when_it_starts_and_one_when_it_ends(caplog):
    logger = logging.getLogger("tests.outage")
    outage = Outage("SQS", logger)
    with caplog.at_level(logging.INFO, logger="tests.outage"):
        outage.recovered()  # nothing to say while all is well
        for _ in range(50):
            outage.failed(ConnectionError("connection refused"))
        assert outage.down and outage.failures == 50
        outage.recovered()
        outage.recovered()
        outage.failed(TimeoutError("read timeout"))  # a second outage is a second pair of lines
        outage.recovered()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert lines[0].startswith("SQS unavailable: ConnectionError: connection refused")
    assert lines[1].startswith("SQS is back after") and "(50 failed call(s))" in lines[1]
    assert lines[2].startswith("SQS unavailable: TimeoutError") and lines[3].startswith("SQS is back")
    assert not outage.down
