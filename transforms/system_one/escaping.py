"""Backslash escaping of System One names and values (see docs/system-one-format.md).

After escaping, text holds no ``|`` (the field delimiter), no ``=`` (the name/value separator),
no line break of any kind (nothing ``str.splitlines`` splits on) and no other control character.
So in a line a raw ``|`` always separates fields, a raw ``=`` always ends a name and a raw
``\\n`` always ends the record.  Names escape ``.`` too (a raw ``.`` separates the parts of a
path such as ``billingAddress.line1``) and the elements of a list escape ``;`` (a raw ``;``
ends an element).
"""

from __future__ import annotations

import re

NULL = "\\N"  # a whole value that is exactly this is null; escaped text never is (its "\" would be "\\")

# Escaped everywhere: backslash, the delimiter, the name/value separator, C0 controls (\n \r \t
# \x0b \x0c \x1c \x1d \x1e among them), DEL, C1 controls (\x85 among them), the Unicode line and
# paragraph separators, and surrogates (which valid text never holds).  Everything else (any other
# Unicode, emoji included) is written raw.
CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_VALUE_RE = re.compile(f"[\\\\|={CONTROLS}]")
_NAME_RE = re.compile(f"[\\\\|={CONTROLS}.]")
_ELEMENT_RE = re.compile(f"[\\\\|={CONTROLS};]")
# A raw character that no System One line may hold.
FORBIDDEN_RAW_RE = re.compile(f"[{CONTROLS}]")

_SHORT = {
    "\\": "\\\\",
    "|": "\\p",
    "=": "\\e",
    ".": "\\d",
    ";": "\\s",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_UNSHORT = {v[1]: k for k, v in _SHORT.items()}


def _escape_char(m: re.Match[str]) -> str:
    char = m.group()
    short = _SHORT.get(char)
    return short if short is not None else f"\\u{ord(char):04X}"


def escape_value(text: str) -> str:
    """Escape a value: backslash, ``|``, ``=`` and every control or line-break character."""
    if _VALUE_RE.search(text) is None:
        return text
    return _VALUE_RE.sub(_escape_char, text)


def escape_name(text: str) -> str:
    """Escape a name: as a value, and ``.`` (``\\d``) too."""
    if _NAME_RE.search(text) is None:
        return text
    return _NAME_RE.sub(_escape_char, text)


def escape_element(text: str) -> str:
    """Escape an element of a list: as a value, and ``;`` (``\\s``) too."""
    if _ELEMENT_RE.search(text) is None:
        return text
    return _ELEMENT_RE.sub(_escape_char, text)


_UNESCAPE_RE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|(.)|\Z)", re.DOTALL)


def _unescape_match(m: re.Match[str]) -> str:
    hex_digits = m.group(1)
    if hex_digits is not None:
        code = int(hex_digits, 16)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"escape \\u{hex_digits} is a lone surrogate")
        return chr(code)
    char = m.group(2)
    if char is None:
        raise ValueError("a backslash ends the text (dangling escape)")
    plain = _UNSHORT.get(char)
    if plain is None:
        if char == "u":
            raise ValueError("escape \\u must be followed by 4 hex digits")
        if char == "N":
            raise ValueError("\\N (null) must be the whole value")
        raise ValueError(f"unknown escape \\{char}")
    return plain


# The one-letter escapes by their letter, the backslash's own left out (it is cut at first, below).
_LETTER = {escape[1]: char for char, escape in _SHORT.items() if char != "\\"}


def unescape(text: str) -> str:
    """Undo any of the escapes; ``ValueError`` for an unknown or incomplete escape."""
    if "\\" not in text:
        return text
    if "\\u" not in text:
        # Fast: cut at the escaped backslashes; in each piece every backslash left starts a
        # one-letter escape, so cut there too and replace each part's first letter. Anything else
        # (\N, an unknown or a dangling escape) is for the regex below, which says which.
        pieces = text.split("\\\\")
        try:
            for i, piece in enumerate(pieces):
                if "\\" in piece:
                    first, *parts = piece.split("\\")
                    pieces[i] = first + "".join([_LETTER[part[0]] + part[1:] for part in parts])
        except (KeyError, IndexError):
            pass
        else:
            return "\\".join(pieces)
    return _UNESCAPE_RE.sub(_unescape_match, text)
