"""The line parser's values for PostgreSQL's COPY: text where the database reads the same value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.services.importing.parsing import LineParser, LineRejected, exact_in_postgres
from ingest.testing.samples import order_event
from tests.transforms.strategies import events
from transforms.events import validate_event
from transforms.streams import STREAMS
from transforms.system_one.reader import read_record
from transforms.system_one.writer import write_record
from transforms.timestamps import to_datetime


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("2026-11-27T10:15:30Z", True),
        ("2026-11-27T10:15:30.123Z", True),
        ("2026-11-27T10:15:30.123456Z", True),
        ("2026-11-27T10:15:30.123456+05:30", True),
        ("2026-11-27T10:15:30-03:00", True),
        # PostgreSQL rounds a seventh digit where to_datetime truncates it.
        ("2026-11-27T10:15:30.1234567Z", False),
        ("2026-11-27T10:15:30.9999999-03:00", False),
        ("2026-11-27t10:15:30Z", False),
        ("2026-11-27T10:15:30z", False),
        ("2026-11-27 10:15:30Z", False),
    ],
)
def test_exact_in_postgres(text, exact):
    assert exact_in_postgres(text) is exact


def _order(occurred_at: str) -> bytes:
    event = order_event(version=3, orderDate="2026-11-20", subtotal="100.5", tax="-0.0001", total="100.4999")
    return write_record({**event, "occurredAt": occurred_at}).rstrip("\n").encode()


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2026-11-27T10:15:30.123Z",
        "2026-11-27T10:15:30.123456789Z",
        "2026-11-27t10:15:30.5z",
        "2026-11-27 10:15:30+05:30",
    ],
)
def test_text_values_hold_the_checked_text_and_an_exact_occurred_at(occurred_at):
    typed = LineParser(STREAMS["orders"]).parse(_order(occurred_at), 1)
    text = LineParser(STREAMS["orders"], text_values=True).parse(_order(occurred_at), 1)
    assert typed.occurred_text is None
    assert typed.values is not None and text.values is not None and text.occurred_text is not None
    assert typed.values["subtotal"] == Decimal("100.5") and typed.values["order_date"] == date(2026, 11, 20)
    assert (
        text.values["subtotal"] == "100.5"
        and text.values["tax"] == "-0.0001"
        and text.values["order_date"] == "2026-11-20"
    )
    assert {
        k: v for k, v in text.values.items() if k not in {"subtotal", "tax", "shipping", "total", "order_date"}
    } == {k: v for k, v in typed.values.items() if k not in {"subtotal", "tax", "shipping", "total", "order_date"}}
    # Ranking uses the datetime; the staging row the text, which must be the same instant.
    assert text.occurred_at == typed.occurred_at == to_datetime(occurred_at)
    assert to_datetime(text.occurred_text) == typed.occurred_at
    assert exact_in_postgres(text.occurred_text)


@settings(max_examples=300, deadline=None)
@given(events(event_type="upsert"), st.booleans())
def test_the_generated_column_values_are_those_of_the_checked_loop(event, text_values):
    parser = LineParser(STREAMS[event["stream"]], text_values=text_values)
    data = read_record(write_record(validate_event(event, event["stream"])).rstrip("\n")).data
    assert data is not None  # an upsert has data
    assert parser.build_values(data) == parser._checked_values(data)


def test_a_value_the_converter_refuses_is_rejected_naming_its_field(monkeypatch):
    from ingest.services.importing import parsing

    def refuse(value):
        raise ValueError(f"cannot take {value!r}")

    plan = [(n, s, a, refuse if a == "subtotal" else c) for n, s, a, c in parsing._column_plan("orders")]
    parser = LineParser(STREAMS["orders"])
    monkeypatch.setattr(parser, "plan", tuple(plan))
    monkeypatch.setattr(parser, "build_values", lambda data: refuse(data["subtotal"]))
    with pytest.raises(LineRejected, match=r"^subtotal: cannot take '100\.5'$"):
        parser.parse(_order("2026-11-27T10:15:30Z"), 1)
