"""JSON for the node's answers: orjson, which decodes a block's ~90 KB of transaction infos ~4x faster.

orjson reads an integer wider than 64 bits as a float, silently; the standard library keeps it exact.
Amounts on TRON travel as 64-bit numbers (balances, fees) or hex words (TRC20 values), so a bare number
of 20 digits or more never comes from a node we trust to be right; if one does, the body is decoded by
the standard library instead, so no value is ever rounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

WIDE_NUMBER = re.compile(rb"[:,\[]\s*-?\d{20}")
"""A bare JSON number of 20 digits or more (digits inside strings, such as hex words, follow a quote)."""


def loads(body: bytes) -> Any:
    """Decode a JSON body exactly; raises ``ValueError`` if it is not JSON."""
    if WIDE_NUMBER.search(body):
        return json.loads(body)
    return orjson.loads(body)


def dumps(value: Any) -> bytes:
    """Encode a request body compactly (orjson; the standard library for integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, or a type it does not know
        return json.dumps(value, separators=(",", ":")).encode()
