"""The comparator: how the nine website tables differ from the oracle's fold of the events."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from ingest.testing.oracle import ExpectedState
from transforms.events import parse_timestamp
from transforms.streams import STREAMS


def _expected_value(spec_type: str, value: Any) -> Any:
    if value is None:
        return None
    if spec_type in {"money", "decimal"}:
        return Decimal(value)
    if spec_type == "date":
        return date.fromisoformat(value)
    if spec_type == "timestamp":
        return parse_timestamp(value)
    return value


def _expected_extras(spec, data: dict) -> dict | None:
    """The members of ``data`` the layout does not name (inside a known object: under its name)."""
    known = {f.name: f for f in spec.all_fields}
    extras: dict = {}
    for name, value in data.items():
        f = known.get(name)
        if f is None:
            extras[name] = value
        elif f.type == "object" and value:
            inside = {k: v for k, v in value.items() if k not in {s.name for s in f.fields}}
            if inside:
                extras[name] = inside
    return extras or None


def differences(expected: ExpectedState) -> list[str]:
    """Every way in which the database differs from the fold (empty when equal): rows missing or
    unexpected, deleted/placeholder flags, source version and event, every column, order quotes."""
    from website.models import MODELS_BY_STREAM

    problems: list[str] = []
    for stream, spec in STREAMS.items():
        model = MODELS_BY_STREAM[stream]
        key_attnames = [f.attname for f in spec.key]
        actual = {tuple(getattr(row, a) for a in key_attnames): row for row in model.objects.all()}
        wanted = expected.rows[stream]
        extra = set(actual) - set(wanted)
        for key in sorted(extra, key=repr):
            row = actual[key]
            if not (row.is_placeholder and key in expected.optional_placeholders[stream]):
                problems.append(f"{stream} {key}: in the database, not in the fold (placeholder={row.is_placeholder})")
        for key, want in wanted.items():
            row = actual.get(key)
            if row is None:
                problems.append(f"{stream} {key}: missing (placeholder={want.is_placeholder})")
                continue
            for attr in ("is_deleted", "is_placeholder", "source_version", "source_event_id"):
                if getattr(row, attr) != getattr(want, attr):
                    problems.append(f"{stream} {key}: {attr} {getattr(row, attr)!r} != {getattr(want, attr)!r}")
            if want.data is not None:
                for path, attname, field_spec in spec.columns():
                    value = want.data.get(path[0])
                    if len(path) > 1:
                        value = value.get(path[1]) if value else None
                    exp = _expected_value(field_spec.type, value)
                    got = getattr(row, attname)
                    if got != exp:
                        problems.append(f"{stream} {key}: {attname} {got!r} != {exp!r}")
                if row.source_extras != _expected_extras(spec, want.data):
                    problems.append(
                        f"{stream} {key}: source_extras {row.source_extras!r} != the event's unknown members"
                    )
            if want.is_placeholder:
                for _path, attname, _spec in spec.columns():
                    if attname not in key_attnames and getattr(row, attname) is not None:
                        problems.append(f"{stream} {key}: placeholder has {attname}={getattr(row, attname)!r}")
            if stream == "orders" and (row.quote_number, row.quote_version) != want.quote:
                problems.append(f"orders {key}: quote {(row.quote_number, row.quote_version)!r} != {want.quote!r}")
    return problems
