"""The text of JSON columns (variables, active elements, audit data), written and read by orjson.

SQLAlchemy's JSON type calls these (processes/core/db.py passes them to create_engine). orjson refuses what the
standard library writes as the same JSON value (keys that are not strings, integers over 64 bits) and reads what
it wrote; for those, and for rows saved before with NaN (which orjson does not read), the standard library does it,
as before. NaN and Infinity never get here from variables: processes/core/variables.py refuses them."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
