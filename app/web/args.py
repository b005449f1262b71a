"""Numbers in a page's query string (page, version, base, to)."""

from __future__ import annotations

from ..api.schemas import MAX_VERSION


def whole_number(text: str) -> int:
    """`request.args.get(name, type=whole_number)`: a number the database can store, from 1 up; anything else raises
    ValueError, which werkzeug reads as the argument not given (a page then shows its default, not a 500)."""
    number = int(text)
    if not 1 <= number <= MAX_VERSION:
        raise ValueError(f"{text} is out of range")
    return number
