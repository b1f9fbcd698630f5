"""JSON for the node's answers: orjson, about twice as fast as the standard library on a block's infos.

orjson reads an integer wider than 64 bits as a float, silently; the standard library keeps it exact.
java-tron writes every number as a protobuf int64 and TRC20 values as hex words, so such an integer only
comes from a broken node or proxy. Answers up to ``CHECKED_BYTES`` (accounts, resources, receipts,
constant calls: where balances and fees are read) are scanned for a bare number of 20 digits or more and
then decoded by the standard library, so none of those values is ever rounded; the scan would cost as
much as the decoding itself on a block's ~90 KB of transaction infos, which the scanner reads only for
hex words (the Transfer logs) and block numbers, so those go to orjson directly.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

WIDE_NUMBER = re.compile(rb"[:,\[]\s*-?\d{20}")
"""A bare JSON number of 20 digits or more (digits inside strings, such as hex words, follow a quote)."""


CHECKED_BYTES = 32_768


def loads(body: bytes) -> Any:
    """Decode a JSON body; raises ``ValueError`` if it is not JSON. Exact for bodies up to CHECKED_BYTES."""
    if len(body) <= CHECKED_BYTES and WIDE_NUMBER.search(body):
        return json.loads(body)
    return orjson.loads(body)


def dumps(value: Any) -> bytes:
    """Encode a request body compactly (orjson; the standard library for integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, or a type it does not know
        return json.dumps(value, separators=(",", ":")).encode()
