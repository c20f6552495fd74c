"""System Two snapshots for the tests, the demo and the benchmark (the contract's "Snapshots").

``snapshot_of`` gives the lines System Two would export for a stream from the events it made: per
key the winning event (the fold's rule), as a full row or a versions row. ``write_snapshot``
writes a header and lines to a file (GZIP when the name ends in ``.gz``).
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transforms.events import parse_timestamp
from transforms.streams import STREAMS


def header(stream: str, taken_at: str, *, complete: bool = True, rows: str = "full") -> dict:
    return {"snapshot": {"stream": stream, "takenAt": taken_at, "complete": complete, "rows": rows}}


def full_line(event: dict, *, fresh_id: bool = False) -> dict:
    """The event as a snapshot's full row (a delete without data); ``fresh_id`` gives it a new eventId."""
    line = {k: v for k, v in event.items() if not k.startswith("_")}
    if line["eventType"] == "delete":
        line.pop("data", None)
    if fresh_id:
        line["eventId"] = str(uuid.uuid4())
    return line


def versions_line(event: dict) -> dict:
    return {
        "key": event["key"],
        "version": event["version"],
        "occurredAt": event["occurredAt"],
        "deleted": event["eventType"] == "delete",
    }


def winners(events: Iterable[dict], stream: str) -> dict[tuple, dict]:
    """Per key of ``stream``, the event that holds the truth: highest (version, occurredAt, eventId)."""
    names = STREAMS[stream].key_names
    best: dict[tuple, dict] = {}
    for event in events:
        if event.get("stream") != stream or "_invalid" in event:
            continue
        key = tuple(event["key"][n] for n in names)
        rank = (event["version"], parse_timestamp(event["occurredAt"]), event["eventId"])
        current = best.get(key)
        if current is None or rank > (
            current["version"],
            parse_timestamp(current["occurredAt"]),
            current["eventId"],
        ):
            best[key] = event
    return best


def snapshot_of(events: Iterable[dict], stream: str, *, rows: str = "full", fresh_ids: bool = False) -> list[dict]:
    """The lines of a complete snapshot of ``stream`` as the events leave System Two."""
    chosen = winners(events, stream).values()
    if rows == "full":
        return [full_line(e, fresh_id=fresh_ids) for e in chosen]
    return [versions_line(e) for e in chosen]


def write_snapshot(path: Path, head: dict, lines: Iterable[Any]) -> Path:
    """``head`` then one JSON line per item (a str is written as it is: a bad line on purpose)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps(head) + "\n")
        for line in lines:
            out.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n")
    return path
