"""How a config validation error is told: dotted keys, reps by id, near-miss hints."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


def describe(exc: ValidationError, raw: Mapping[str, Any], root: type[BaseModel],
             rule_keys: Collection[str], ident: re.Pattern[str]) -> str:
    """One line per error: the dotted key (reps by id), what was wrong, a hint for near misses."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = _dotted(_rep_ids(err["loc"], raw, ident))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(root, err["loc"][:-1])
            hint = _did_you_mean(str(err["loc"][-1]), allowed, rule_keys)
            lines.append(f"  {loc}: unknown key{hint} (expected one of: {', '.join(allowed)})")
        elif err["type"] == "missing":
            lines.append(f"  {loc}: required key is missing")
        elif loc:
            lines.append(f"  {loc}: {msg} (got {err['input']!r})")
        else:
            lines.append(f"  {msg}")
    return "\n".join(lines)


def _did_you_mean(key: str, allowed: list[str], rule_keys: Collection[str]) -> str:
    """`; did you mean 'port'?` for a near miss, or a rule put outside its `rules` table."""
    if key in rule_keys and "rules" in allowed:
        return f"; did you mean 'rules.{key}'? Rules go in the rules table"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _rep_ids(loc: tuple[int | str, ...], raw: Mapping[str, Any],
             ident: re.Pattern[str]) -> tuple[int | str, ...]:
    """`reps[1]` as `reps.bob` when that rep has a usable id (people know reps by id)."""
    reps = raw.get("reps")
    if len(loc) < 2 or loc[0] != "reps" or not isinstance(loc[1], int) \
            or not isinstance(reps, list) or loc[1] >= len(reps):
        return loc
    rep = reps[loc[1]]
    rep_id = rep.get("id") if isinstance(rep, dict) else None
    if not isinstance(rep_id, str) or not ident.fullmatch(rep_id):
        return loc
    return ("reps", rep_id, *loc[2:])


def _allowed_keys(root: type[BaseModel], parent: tuple[int | str, ...]) -> list[str]:
    """The keys the table at `parent` accepts, found by walking the models down that path."""
    node: Any = root
    for part in parent:
        node = _unwrap(node)
        if _is_model(node):
            field = node.model_fields.get(str(part))
            if field is None:
                return []
            node = field.annotation
        else:  # a dict (value type is last) or a tuple (item type is first)
            node = get_args(node)[0 if get_origin(node) is tuple else -1]
    node = _unwrap(node)
    return sorted(node.model_fields) if _is_model(node) else []


def _unwrap(node: Any) -> Any:
    while get_origin(node) in (Annotated, Union, UnionType):
        node = next(a for a in get_args(node) if a is not type(None))
    return node


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
