"""The ERP clock never raises on a timestamp the contract accepts: the edges of the years 1-9999,
fractions beyond microseconds, offsets that cross midnight at the ends of the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import ImportEventClock
from ingest.services.importing.parsing import LineParser
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.observing.event_clock import EventClock
from ingest.services.observing.freshness import stream_freshness
from ingest.testing.samples import checked, order_event
from transforms.streams import STREAMS
from transforms.system_one.writer import write_record
from website.models import Order

EDGE_TIMES = [
    "9999-12-31T23:59:59.9999999Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.999999999999+00:00",
    "9999-12-31T23:59:59.5Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00.000001Z",
    "0001-01-01T23:59:59.999999+23:59",
]
LAST_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def with_time(number: str, occurred_at: str) -> dict:
    event = order_event(number)
    event["occurredAt"] = occurred_at
    return checked(event)


@pytest.mark.parametrize("stamp", EDGE_TIMES)
def test_the_clock_summarizes_every_valid_timestamp_exactly(stamp):
    parser = LineParser(STREAMS["orders"])
    event = parser.parse(write_record(with_time("SO-E", stamp)).encode().rstrip(b"\n"), 1)
    clock = EventClock()
    clock.observe([event])
    now = datetime(2026, 12, 4, tzinfo=UTC)
    summary = clock.summarize(now)
    assert summary.events == 1
    # Exact to the microsecond: no rounding through a float into year 10000 or off by one.
    assert summary.newest_occurred_at == summary.oldest_occurred_at == event.occurred_at.astimezone(UTC)
    assert summary.lag_sum_seconds >= 0.0


def test_the_clock_keeps_microseconds_far_from_the_epoch():
    parser = LineParser(STREAMS["orders"])
    events = [
        parser.parse(write_record(with_time(f"SO-M{n}", t)).encode().rstrip(b"\n"), n)
        for n, t in enumerate(["9999-12-31T23:59:59.999998Z", "9999-12-31T23:59:59.999999Z"], 1)
    ]
    clock = EventClock()
    clock.observe(events)
    summary = clock.summarize(datetime(2026, 12, 4, tzinfo=UTC))
    assert summary.newest_occurred_at == LAST_INSTANT
    assert summary.oldest_occurred_at == LAST_INSTANT - timedelta(microseconds=1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999999Z"])
def test_an_event_at_the_end_of_time_does_not_fail_its_file(tmp_path, stamp):
    events = [order_event("SO-BEFORE"), with_time("SO-LAST", stamp), order_event("SO-AFTER")]
    path = tmp_path / "orders" / "edge"
    path.parent.mkdir(parents=True)
    path.write_text("".join(write_record(e) for e in events))
    f, _ = register_local_file(path)
    outcome = import_file(f.pk, trigger="test")
    f.refresh_from_db()
    assert f.status == "imported", f.error_message
    assert outcome.counts["rows_created"] == 3
    assert set(Order.objects.values_list("order_number", flat=True)) == {"SO-BEFORE", "SO-LAST", "SO-AFTER"}
    assert Order.objects.get(order_number="SO-LAST").source_occurred_at == LAST_INSTANT
    assert ImportEventClock.objects.get(import_file=f).newest_occurred_at == LAST_INSTANT
    # The dashboard reads it back: an ERP clock ahead of ours is an age of zero, not an error.
    [orders] = [s for s in stream_freshness() if s.stream == "orders"]
    assert orders.newest_occurred_at == LAST_INSTANT and orders.event_age_seconds == 0.0
