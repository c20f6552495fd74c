"""Fuzzing reconciliation (``reconcile`` on System Two's snapshots): a valid header and valid full
or versions rows (the project's sample events), mutated with hostile bytes and values: the header
mutated or missing, unknown streams, a wrong ``rows`` kind, lines that are not JSON, duplicate JSON
keys, wrong key fields, bad versions, occurredAt and deleted, NUL and lone surrogates, overlong
lines, a key's second line; GZIP framing (members, truncation, trailing bytes, corruption).

Property: ``reconcile`` raises nothing but ``SnapshotError`` (the service's documented error for an
unreadable, corrupt or headerless file, a bad header or an unknown stream), and then nothing is
recorded and no website row changed. Otherwise the run is recorded; every non-blank line after the
header is either one line error of the run or one compared key (in_sync + missing + behind + ahead
+ differs), a valid line's key is compared, a valid line repeated is a line error; and the website
is unchanged (a report-only run, or a dry run even with repairs asked)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from hypothesis import given
from hypothesis import strategies as st

from ingest.models.reconciliation import ReconciliationLineError, ReconciliationRun
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.repair.reconcile import Requested, reconcile
from ingest.services.repair.reconcile.snapshot import SnapshotError
from ingest.testing.samples import order_event, order_line_event, write_files
from ingest.testing.snapshots import full_line, header, versions_line
from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import gzip_framed, json_values, mutated_json, nasty_bytes, nasty_text

pytestmark = pytest.mark.django_db(transaction=True)

TAKEN = "2026-11-28T00:00:00Z"
MAX_LINE = 4096
COMPARED = ("in_sync", "missing", "behind", "ahead", "differs")
SAMPLES = ("orders", "order-lines")


def sample(stream: str, n: int, version: int, prefix: str = "SO") -> dict:
    if stream == "orders":
        return order_event(f"{prefix}-{n}", version)
    return order_line_event(f"{prefix}-{n}", 1) | {"version": version}


def row(stream: str, rows: str, n: int, version: int, prefix: str = "SO", *, index: int = 0) -> dict:
    """A valid snapshot line; its eventId fixed by ``index`` (Hypothesis needs the same bytes each time)."""
    event = sample(stream, n, version, prefix) | {"eventId": str(uuid.UUID(int=index + 1, version=4))}
    return full_line(event) if rows == "full" else versions_line(event)


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[list[bytes], bool, set[int], set[int]]:
    """(lines, header_valid, numbers of valid lines with a new key, numbers of valid lines
    repeating a key): the header first unless it is missing; each line ends in a newline."""
    stream = draw(st.sampled_from(sorted(SAMPLES)))
    rows = draw(st.sampled_from(["full", "versions"]))
    head = header(stream, TAKEN, complete=draw(st.booleans()), rows=rows)
    kind = draw(st.sampled_from(["valid"] * 4 + ["mutated", "stream", "rows", "missing", "garbage"]))
    if kind == "valid":
        first: bytes | None = json.dumps(head).encode()
    elif kind == "mutated":
        first = draw(mutated_json(head))
    elif kind == "stream":
        head["snapshot"]["stream"] = draw(nasty_text | st.sampled_from(["Orders", "orders ", "order_lines"]))
        first = json.dumps(head).encode("utf-8", "surrogatepass")
    elif kind == "rows":
        head["snapshot"]["rows"] = draw(json_values() | st.sampled_from(["Full", "version", "rows"]))
        first = json.dumps(head).encode("utf-8", "surrogatepass")
    elif kind == "missing":
        first = None  # the first row stands where the header should
    else:
        first = draw(nasty_bytes | st.just(b"x" * (MAX_LINE + 10)))
    lines: list[bytes] = [] if first is None else [first.replace(b"\n", b" ")]
    valid: set[int] = set()
    repeated: set[int] = set()
    seen: set[int] = set()
    for index in range(draw(st.integers(0, 8))):
        n = draw(st.integers(1, 5))
        how = draw(st.sampled_from(["valid", "valid", "mutated", "field", "key", "nasty", "long", "garbage", "blank"]))
        # A mutated line's key is another (MX-n), so that a mutation still valid is no valid line's first.
        good = row(stream, rows, n, draw(st.integers(1, 4)), "SO" if how == "valid" else "MX", index=index)
        if how == "valid":
            line = json.dumps(good).encode()
            (repeated if n in seen else valid).add(len(lines) + 1)
            seen.add(n)
        elif how == "mutated":
            line = draw(mutated_json(good))
        elif how == "field":
            name = draw(st.sampled_from(["version", "occurredAt", "deleted", "key", "eventType", "eventId"]))
            bad: Any = draw(
                json_values()
                | st.sampled_from([0, -1, 1.5, "1", True, 2**63, "2026-13-01T00:00:00Z", "yesterday", "", None])
            )
            good[name] = bad
            line = json.dumps(good).encode("utf-8", "surrogatepass")
        elif how == "key":
            key = dict(good["key"])
            choice = draw(st.sampled_from(["drop", "extra", "value"]))
            if choice == "drop":
                key.pop(next(iter(key)))
            elif choice == "extra":
                key[draw(nasty_text)] = draw(json_values())
            else:
                key[next(iter(key))] = draw(json_values())
            good["key"] = key
            line = json.dumps(good).encode("utf-8", "surrogatepass")
        elif how == "nasty":
            good["key"] = {k: (v + draw(st.sampled_from(["\x00", "\ud800", "\udfff"])) if isinstance(v, str) else v)
                           for k, v in good["key"].items()}  # fmt: skip
            line = json.dumps(good, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        elif how == "long":
            good["padding"] = "x" * (MAX_LINE + draw(st.integers(0, 100)))
            line = json.dumps(good).encode()
        elif how == "blank":
            line = draw(st.sampled_from([b"", b" ", b"\r", b"\t"]))
        else:
            line = draw(nasty_bytes)
        lines.append(line.replace(b"\n", b" "))
    return [line + b"\n" for line in lines], first is not None and kind == "valid", valid, repeated


def website_state() -> dict[str, list[dict]]:
    return {
        model.__name__: list(model._default_manager.order_by("pk").values())
        for model in apps.get_app_config("website").get_models()
    }


@pytest.fixture
def website(tmp_path: Path, settings) -> None:
    """Some of the keys on the website (versions 1 to 3), so every category can come up."""
    settings.INGEST_MAX_LINE_BYTES = MAX_LINE
    events = [sample(s, n, (n % 3) + 1) for s in SAMPLES for n in (1, 2, 3)]
    for path in write_files(events, tmp_path / "in", per_file=100):
        f, _ = register_local_file(path)
        assert import_file(f.pk, trigger="test").status == "imported"


@budget(1.5)
@given(snapshot=snapshots(), dry_run=st.booleans(), apply=st.booleans(), data=st.data())
def test_reconcile_records_every_line_or_refuses_the_snapshot(
    website, tmp_path_factory, snapshot, dry_run, apply, data
):
    count("snapshots: reconcile")
    lines, header_valid, valid, repeated = snapshot
    payload = b"".join(lines)
    raw, framing = data.draw(gzip_framed(payload))
    name = "snapshot.jsonl" if framing == "plain" else "snapshot.jsonl.gz"
    path = tmp_path_factory.mktemp("snapshots") / "snapshots" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    before = website_state()
    runs = set(ReconciliationRun.objects.values_list("pk", flat=True))
    # Repairs are asked only of a dry run: a report-only run and a dry run change nothing.
    requested = Requested(apply=apply, apply_content=apply, apply_deletes=apply) if dry_run else Requested()
    try:
        report = reconcile(str(path), requested, trigger="fuzz", dry_run=dry_run)
    except SnapshotError:
        assert set(ReconciliationRun.objects.values_list("pk", flat=True)) == runs
        assert website_state() == before
        assert not (header_valid and framing in {"plain", "gzip", "members"}), "a readable valid header was refused"
        return
    assert website_state() == before
    new = set(ReconciliationRun.objects.values_list("pk", flat=True)) - runs
    counts = report.counts
    if dry_run:
        assert report.run_id is None and not new
    else:
        assert report.run_id is not None and new == {report.run_id}
        run = ReconciliationRun.objects.get(pk=report.run_id)
        assert run.status == "done" and run.counts() == counts
        errors = list(ReconciliationLineError.objects.filter(run=run).values_list("line_number", flat=True))
        assert len(errors) == len(set(errors)) == run.line_errors, "a line is at most one line error"
    if framing not in {"plain", "gzip", "members"}:
        return  # a cut or trailing bytes: the damage is a line error too, the rest as it came
    nonblank = sum(1 for line in lines[1:] if line.strip())
    assert sum(counts[c] for c in COMPARED) + counts["line_errors"] == nonblank
    assert sum(counts[c] for c in COMPARED) >= len(valid) and counts["line_errors"] >= len(repeated)
    if not dry_run:
        numbers = set(errors)
        assert not numbers & valid, "a valid line with a new key was a line error"
        assert repeated <= numbers, "a key's second line was not a line error"
