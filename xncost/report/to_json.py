"""The JSON writer: exact numbers. Ints stay ints; a Fraction with a finite decimal expansion
(BOPs / word: word sizes are powers of two) is written as that exact decimal literal, such as
400.640625; any other ratio (speed-ups, ratios to the FC head) as the exact string "p/q", which
`fractions.Fraction(s)` reads back."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

from xncost.exact import all_digits_in, exact_str, normalize

_RAW = "\x00raw:"
_RAW_RE = re.compile(r'"\\u0000raw:([^"]*)"')


def jsonable(value: Any) -> Any:
    """Exact JSON-ready form (see the module docstring); dicts, lists and tuples recursively."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Fraction):
        value = normalize(value)
        if isinstance(value, int):
            return value
        text = exact_str(value)
        return _RAW + text if "/" not in text else text
    return value


@all_digits_in
def dumps(value: Any) -> str:
    """json.dumps with exact numbers, indented by 2, ending in a newline."""
    return _RAW_RE.sub(r"\1", json.dumps(jsonable(value), indent=2)) + "\n"
