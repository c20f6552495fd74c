"""Fuzzing the importer with generated System One files: valid lines, mutated lines (bytes,
escapes, extras, NUL, CR), blank lines, GZIP framing.

Properties: a file is failed by its content only when its GZIP is corrupt (a CRC, length or
deflate error); otherwise every valid line before a cut is loaded, and the file holds one line
error at most per other line (plus one where a cut GZIP stops)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from ingest.models import ImportFile, ImportLineError
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import gzip_framed, is_corrupt_gzip, mutated_bytes, nasty_bytes
from tests.transforms.strategies import events
from transforms.system_one.writer import write_record
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@st.composite
def files(draw: st.DrawFn) -> tuple[list[tuple[str, bytes]], bytes, str]:
    """(lines as (kind, bytes), the file's bytes, framing). Valid lines are orders upserts with
    keys of their own (``FZ-{n}``), so that each one is a row to find afterwards."""
    lines: list[tuple[str, bytes]] = []
    for n in range(draw(st.integers(1, 8))):
        event = draw(events("orders", event_type="upsert"))
        number = f"FZ-{n}"  # the test deletes the FZ- orders before each case
        event["key"] = {"orderNumber": number}
        event["data"]["orderNumber"] = number
        line = write_record(event).encode()
        kind = draw(st.sampled_from(["valid", "valid", "mutated", "garbage", "blank"]))
        if kind == "mutated":
            mutated = draw(mutated_bytes(line.rstrip(b"\n"))).replace(b"\n", b"")
            lines.append(("mutated", mutated + b"\n"))
        elif kind == "garbage":
            lines.append(("garbage", draw(nasty_bytes).replace(b"\n", b"") + b"\n"))
        elif kind == "blank":
            lines.append(("blank", draw(st.sampled_from([b"\n", b"\r\n"]))))
        else:
            crlf = draw(st.integers(0, 5)) == 0
            # PostgreSQL cannot hold U+0000: there such a valid event is a line error (the project's rule).
            nul = "\\u0000" in json.dumps(event)  # json.dumps writes U+0000 as an escape
            lines.append((number + ("!nul" if nul else ""), line[:-1] + b"\r\n" if crlf else line))
    payload = b"".join(raw for _, raw in lines)
    if draw(st.booleans()) and payload.endswith(b"\n"):
        payload = payload[:-1]  # no newline after the last line
    data, framing = draw(gzip_framed(payload))
    return lines, data, framing


@budget(1.5)
@given(case=files())
def test_a_file_fails_only_when_its_container_is_corrupt(tmp_path_factory, case):
    count("System One files: import_file")
    lines, data, framing = case
    Order.objects.filter(order_number__startswith="FZ-").delete()  # keys are reused: the strategy is deterministic
    folder = tmp_path_factory.mktemp("fuzz") / "orders"
    folder.mkdir()
    path = folder / "file"
    path.write_bytes(data)
    f, _ = register_local_file(path)
    import_file(f.pk, trigger="fuzz")
    f = ImportFile.objects.get(pk=f.pk)
    if data[:2] == b"\x1f\x8b" and is_corrupt_gzip(data):
        assert f.status == "failed" and "corrupt" in f.error_message, (f.status, f.error_message)
        return
    assert f.status in {"imported", "imported_with_errors"}, (framing, f.status, f.error_message)
    assert ImportLineError.objects.filter(import_file=f).count() == f.errors_count
    loaded = set(Order.objects.filter(order_number__startswith="FZ-").values_list("order_number", flat=True))
    postgres = connection.vendor == "postgresql"
    valid = {
        kind.removesuffix("!nul")
        for kind, _ in lines
        if kind.startswith("FZ-") and not (postgres and kind.endswith("!nul"))
    }
    others = sum(1 for kind, _ in lines if kind in {"mutated", "garbage"} or (postgres and kind.endswith("!nul")))
    intact = framing in {"gzip", "members"} or (framing == "plain" and data[:2] != b"\x1f\x8b")
    if intact:
        assert valid <= loaded, (framing, valid - loaded)
        assert f.errors_count <= others
        assert f.status == ("imported" if f.errors_count == 0 else "imported_with_errors")
    elif framing in {"truncated", "trailing"}:  # the lines up to the cut, and one error for it
        assert f.errors_count <= others + 1
    # A flipped deflate byte that zlib cannot tell from a cut may garble the lines before it:
    # not a corrupt container by its own checks, so only "not failed" holds.
