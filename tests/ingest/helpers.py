"""Test helpers: write events as System One files the way Firehose lands them, and compare the
database with the fold of the events."""

from __future__ import annotations

import gzip
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingest.models import ImportAttempt, ImportFile, ImportLineError
from ingest.services.event_generator import ExpectedState
from transforms.events import parse_timestamp
from transforms.streams import STREAMS
from transforms.system_one.writer import write_record
from website.models import MODELS_BY_STREAM


def write_files(events: list[dict], folder: Path, *, per_file: int = 25, compress: bool = True) -> list[Path]:
    """Firehose-shaped files: per stream, records concatenated (newline-terminated), GZIP'd."""
    by_stream: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        if "_invalid" not in event:
            by_stream[event["stream"]].append(event)
    paths = []
    for stream, stream_events in by_stream.items():
        for n, start in enumerate(range(0, len(stream_events), per_file)):
            payload = "".join(write_record(e) for e in stream_events[start : start + per_file]).encode()
            path = folder / stream / "2026" / "11" / "27" / "10" / f"local-{stream}-1-2026-11-27-10-00-00-{n:04d}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(payload) if compress else payload)
            paths.append(path)
    return paths


def reset_tables() -> None:
    for model in MODELS_BY_STREAM.values():
        model.objects.all().delete()
    ImportLineError.objects.all().delete()
    ImportAttempt.objects.all().delete()
    ImportFile.objects.all().delete()


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


def differences(expected: ExpectedState) -> list[str]:
    """Every way in which the database differs from the fold (empty when equal)."""
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
            if want.is_placeholder:
                for _path, attname, _spec in spec.columns():
                    if attname not in key_attnames and getattr(row, attname) is not None:
                        problems.append(f"{stream} {key}: placeholder has {attname}={getattr(row, attname)!r}")
            if stream == "orders" and (row.quote_number, row.quote_version) != want.quote:
                problems.append(f"orders {key}: quote {(row.quote_number, row.quote_version)!r} != {want.quote!r}")
    return problems
