"""``InvalidEvent``, the error of every check, and how its messages show the value they refuse."""

from __future__ import annotations

__all__ = ["InvalidEvent", "kind", "short"]


class InvalidEvent(ValueError):
    """A body that is not a valid event of its stream; ``str(e)`` is the human-readable reason."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def short(value: object) -> str:
    """``repr(value)``, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def kind(value: object) -> str:
    """The JSON kind of a value, for messages."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, str):
        return f"the string {short(value)}"
    if isinstance(value, int | float):
        return f"the number {short(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
