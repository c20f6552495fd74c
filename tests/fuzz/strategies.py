"""Hostile bytes and values for the fuzzing targets: mutations of valid input (the interesting
neighbourhood of what the parsers accept) and plain garbage."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from typing import Any

from hypothesis import strategies as st

# What hostile input likes: NUL, CR, the System One separators and escapes, a lone surrogate's
# UTF-8-ish bytes, overlong UTF-8, BOM, a huge number, deep nesting.
NASTY_BYTES = [
    b"\x00", b"\r", b"\n", b"|", b"=", b"\\", b"\\N", b"\\p", b"\\q", b"\\u", b"\\x", b"\xff", b"\xc0\xaf",
    b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xf0\x9f\x98\x80", b"@", b"+", b".", b"\\d", b"9" * 30, b"-", b"T", b"F",
    b'{"a":1,"a":2}', b"[" * 50, b"NaN", b"1e999", b"\t", b" ",
]  # fmt: skip
NASTY_TEXT = [
    "\x00", "\r", "\u2028", "\ud800", "\udfff", "\ufeff", "\U0001f600", "'", '"', "\\", "%", "_", "*", "..",
    "\u0130", "ß", "\U0001d518", "9" * 40, "-1", "0", "", " ", "a" * 300, "<script>", "' OR 1=1 --", "${x}", "%00",
]  # fmt: skip

nasty_bytes = st.sampled_from(NASTY_BYTES) | st.binary(max_size=40)
nasty_text = st.sampled_from(NASTY_TEXT) | st.text(max_size=40)
# What a URL can carry: any text that encodes as UTF-8 (no lone surrogates).
url_text = st.sampled_from([t for t in NASTY_TEXT if "\ud800" not in t and "\udfff" not in t]) | st.text(
    st.characters(exclude_categories=["Cs"]), max_size=40
)


@st.composite
def mutated_bytes(draw: st.DrawFn, original: bytes, *, max_edits: int = 4) -> bytes:
    """``original`` with up to ``max_edits`` insertions, deletions, replacements or cuts."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(nasty_bytes)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            end = min(len(data), at + draw(st.integers(1, 30)))
            data[at:at] = data[at:end]
    return bytes(data)


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
        max_leaves=max_leaves,
    )


@st.composite
def mutated_json(draw: st.DrawFn, doc: dict) -> bytes:
    """``doc`` (a JSON object) with a member replaced, removed or added with a hostile value, or
    repeated (a duplicate key), serialised; sometimes its bytes mutated as well."""
    doc = json.loads(json.dumps(doc))
    target = doc
    path = draw(st.lists(st.text(max_size=1), max_size=2))
    for _ in path:
        nested = [k for k, v in target.items() if isinstance(v, dict)]
        if not nested:
            break
        target = target[draw(st.sampled_from(nested))]
    op = draw(st.sampled_from(["replace", "remove", "add", "duplicate", "bytes"]))
    keys = list(target)
    if op == "replace" and keys:
        target[draw(st.sampled_from(keys))] = draw(json_values())
    elif op == "remove" and keys:
        del target[draw(st.sampled_from(keys))]
    elif op == "add":
        target[draw(nasty_text)] = draw(json_values())
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if op == "duplicate" and keys:
        key = json.dumps(draw(st.sampled_from(keys)))
        text = text.replace(f"{key}:", f"{key}: {json.dumps(draw(json_values()))}, {key}:", 1)
    body = text.encode("utf-8", "surrogatepass")
    if op == "bytes":
        body = draw(mutated_bytes(body))
    return body


@st.composite
def gzip_framed(draw: st.DrawFn, payload: bytes) -> tuple[bytes, str]:
    """(bytes, framing): ``payload`` plain, in one or two GZIP members, truncated, with trailing
    bytes, or with its CRC or deflate data corrupted. ``framing`` says which."""
    framing = draw(st.sampled_from(["plain", "gzip", "members", "truncated", "trailing", "crc", "deflate"]))
    if framing == "plain":
        return payload, framing
    if framing == "members":
        cut = draw(st.integers(0, len(payload)))
        return gzip.compress(payload[:cut]) + gzip.compress(payload[cut:]), framing
    packed = bytearray(gzip.compress(payload))
    if framing == "truncated":
        return bytes(packed[: draw(st.integers(10, max(10, len(packed) - 1)))]), framing
    if framing == "trailing":
        return bytes(packed) + draw(st.binary(min_size=1, max_size=20).filter(lambda b: b[:2] != b"\x1f\x8b")), framing
    if framing == "crc":
        crc = struct.unpack("<I", packed[-8:-4])[0]
        packed[-8:-4] = struct.pack("<I", crc ^ draw(st.integers(1, 2**32 - 1)))
        return bytes(packed), framing
    if framing == "deflate" and len(packed) > 20:
        at = draw(st.integers(10, len(packed) - 9))
        packed[at] ^= draw(st.integers(1, 255))
        return bytes(packed), framing
    return bytes(packed), "gzip"


def is_corrupt_gzip(data: bytes) -> bool:
    """Whether a GZIP reader finds a CRC, length or deflate error (not merely a cut or trailing
    bytes): the one content for which a file may fail as a whole."""
    decompressor = zlib.decompressobj(31)
    rest = data
    try:
        while rest:
            decompressor.decompress(rest)
            if not decompressor.eof:
                return False  # cut short: a truncation, not a corruption
            rest = decompressor.unused_data
            if rest[:2] != b"\x1f\x8b":
                return False  # trailing bytes after a complete member
            decompressor = zlib.decompressobj(31)
    except zlib.error:
        return True
    return False
