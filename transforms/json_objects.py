"""JSON as the contract reads it: one value per key. ``json.loads`` keeps the last of a key given
twice, while a gateway or another reader may keep the first, so the same body would be two
different events; every reader of an event's JSON (the local API's check, the transform, the
importer's extras) refuses duplicates with this one helper, naming the key.
"""

from __future__ import annotations

import json
from typing import Any

from .invalid import InvalidEvent

__all__ = ["DuplicateKey", "loads", "reject_json_constant", "unique_object"]


class DuplicateKey(InvalidEvent):
    """A JSON object names one key twice."""

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= 60 else key[:57] + "..."
        super().__init__(f"duplicate key {shown!r} in a JSON object (a key may appear once)")
        self.key = key


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: the object, or ``DuplicateKey`` for a key seen twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def reject_json_constant(name: str) -> object:
    """``json.loads(parse_constant=...)``: NaN, Infinity and -Infinity are not JSON."""
    raise InvalidEvent(f"body is not JSON: {name} is not a JSON number")


# One decoder for every call: ``json.loads`` with hooks builds a new one each time (a tenth of a
# snapshot line's reading).
_DECODER = json.JSONDecoder(parse_constant=reject_json_constant, object_pairs_hook=unique_object)


def loads(text: str | bytes) -> Any:
    """``json.loads`` refusing duplicate keys (``DuplicateKey``) and NaN/Infinity (``InvalidEvent``)."""
    if isinstance(text, str):
        if text.startswith("\ufeff"):  # as json.loads says it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    elif isinstance(text, bytes | bytearray):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    else:
        raise TypeError(f"the JSON object must be str, bytes or bytearray, not {type(text).__name__}")
    return _DECODER.decode(text)
