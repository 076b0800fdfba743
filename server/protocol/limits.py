"""The documented limits of the wire: each id's and free-text field's length and characters.

One table for every transport: WebSocket frames, HTTP bodies, URL paths and query
parameters are checked against the same patterns (docs/protocol.md, "Limits").
"""

from __future__ import annotations

import re
from typing import Any

LEAD_ID = r"^[A-Za-z0-9_.:-]{1,128}$"  # lead ids: also in Redis key names
REP_ID = r"^[A-Za-z0-9_.-]{1,64}$"  # rep ids and team names (as config.toml allows)
REQ_ID = r"^[A-Za-z0-9_.-]{1,64}$"  # a claim's req_id (and HTTP Idempotency-Key)
# Free text (notes, reasons, region, skills, customer ids, attribute names and values): any
# Unicode scalar value (surrogates: see wire_problem) but the C0 controls other than tab, line
# feed and carriage return, and DEL.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
NOTE_CHARS = 2000  # a follow-up note, a dispatch or withdrawal reason
LABEL_CHARS = 64  # region, skill, attribute name
CUSTOMER_CHARS = 128
MAX_DEPTH = 8  # maps and arrays nested deeper than this are refused before anything reads them

LEAD_ID_RULE = "a non-empty string of at most 128 characters from A-Z a-z 0-9 _ . : -"
REP_ID_RULE = "a non-empty string of at most 64 characters from A-Z a-z 0-9 _ . -"
REQ_ID_RULE = REP_ID_RULE

SURROGATE = re.compile(r"[\ud800-\udfff]")
_LEAD_ID, _REP_ID, _REQ_ID = re.compile(LEAD_ID), re.compile(REP_ID), re.compile(REQ_ID)


def is_lead_id(value: object) -> bool:
    return isinstance(value, str) and _LEAD_ID.match(value) is not None


def is_rep_id(value: object) -> bool:
    return isinstance(value, str) and _REP_ID.match(value) is not None


def is_req_id(value: object) -> bool:
    return isinstance(value, str) and _REQ_ID.match(value) is not None


def wire_problem(value: Any, where: str = "frame") -> str | None:
    """What makes a decoded value unfit to be read at all, or None: nesting deeper than
    MAX_DEPTH, or a string (value or key) that is not valid Unicode (a lone surrogate, which
    no UTF-8 encoder can write back to Redis or to a socket)."""
    return _problem(value, where, 0)


def _problem(value: Any, where: str, depth: int) -> str | None:
    if isinstance(value, str):
        return f"{where}: not valid Unicode (a lone surrogate)" if SURROGATE.search(value) \
            else None
    if not isinstance(value, dict | list | tuple):
        return None
    if depth >= MAX_DEPTH:
        return f"{where}: nested deeper than {MAX_DEPTH} levels"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        inner = f"{where}.{key}" if isinstance(key, str) and len(key) <= 40 else f"{where}[]"
        problem = _problem(key, where, depth + 1) or _problem(item, inner, depth + 1)
        if problem:
            return problem
    return None
