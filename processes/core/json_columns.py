"""JSON text written and read by orjson, exactly as the standard library would: the JSON columns (variables, active
elements, audit data; SQLAlchemy's JSON type calls `dumps` and `loads`, processes/core/db.py passes them to
create_engine) and the instance state (processes/core/state_encoder.py).

orjson refuses what the standard library writes as JSON (keys that are not text, integers over 64 bits) and does not
read NaN, Infinity or lone surrogates, which the standard library wrote before; for those the standard library does
it, as before. orjson would also read an integer over 64 bits as a float, losing digits: text with an integer of 19
digits or more is read by the standard library. NaN and Infinity never come from variables any more:
processes/core/variables.py refuses them."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# An integer of 19 digits or more as a JSON value (also matches some texts inside strings: those are read by the
# standard library, slower and the same).
_LONG_INTEGER = re.compile(r"[:,\[]\s*-?\d{19,}\s*[,\]}]")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def read(text: str | bytes) -> tuple[Any, bool]:
    """The JSON value, and whether orjson could not read it exactly (the standard library read it)."""
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode()
    if _LONG_INTEGER.search(text) is None:
        try:
            return orjson.loads(text), False
        except orjson.JSONDecodeError:
            pass
    return json.loads(text), True


def loads(text: str | bytes) -> Any:
    return read(text)[0]
