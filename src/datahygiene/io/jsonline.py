"""One JSON line -> a row, or a :class:`RowFailure` that names the exact problem and keeps what still reads.

orjson parses the common case; a line it refuses is read again with Python's parser to tell invalid UTF-8, lone
surrogates and other refusals apart, and to recover the row's clean fields (its id). Integers beyond 64 bits,
which orjson turns into floats, are kept exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class RowFailure:
    """Why a row could not be parsed, with its original bytes.

    ``fields`` holds what could still be read of the row (string and integer
    values that parsed cleanly); the normaliser takes only the row's id from
    it, so a user finds the row in the ledger under its own id.
    """

    reason: str
    raw: bytes
    fields: Mapping[str, Any] = field(default_factory=dict)


#: orjson reads integers in [-2**63, 2**64) exactly and any other integer as a float beyond these bounds.
_EXACT_LOW, _EXACT_HIGH = float(-(2**63)), float(2**64)


def parse_json_line(line: bytes) -> dict[str, Any] | RowFailure:
    """Parse one JSONL line; failures say whether the bytes or the JSON are bad.

    Integers beyond 64 bits stay exact (Python ints); ``NaN``, ``Infinity`` and
    numbers beyond the double range are not JSON we keep (``malformed_json``).
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _refused_line(line)
    if not isinstance(value, dict):
        return RowFailure("malformed_json", line)
    row: dict[str, Any] = value
    # An integer orjson cannot hold has at least 19 digits: most lines have fewer in all (a cheap C-level count).
    if len(line) - len(line.translate(None, b"0123456789")) >= 19 and _may_hold_big_integer(row.values()):
        return _exact_integers(line, row)
    return row


def json_line_rows(block: bytes) -> list[dict[str, Any] | RowFailure]:
    """The non-blank lines of a JSON Lines block, parsed one by one (failures kept as rows)."""
    rows: list[dict[str, Any] | RowFailure] = []
    for line in block.split(b"\n"):
        content = line.rstrip(b"\r\n")
        if content.strip():  # blank lines are separators, not rows
            rows.append(parse_json_line(content))
    return rows


def _may_hold_big_integer(values: Iterable[Any]) -> bool:
    """Whether orjson may have read an integer beyond 64 bits as a float (some float is that large)."""
    stack = [values]
    while stack:
        for item in stack.pop():
            kind = type(item)
            if kind is float:
                if item <= _EXACT_LOW or item >= _EXACT_HIGH:
                    return True
            elif kind is dict:
                stack.append(item.values())
            elif kind is list:
                stack.append(item)
    return False


def _exact_integers(line: bytes, value: dict[str, Any]) -> dict[str, Any]:
    """The line read again by Python's parser, which keeps integers beyond 64 bits exact."""
    try:
        exact = json.loads(line)
    except (ValueError, RecursionError):  # orjson allows deeper nesting than Python's default limit
        return value
    return exact if isinstance(exact, dict) else value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _refused_line(line: bytes) -> RowFailure:
    """Why orjson refused a line, and whatever fields of it still read cleanly (for its id)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return RowFailure("invalid_utf8", line, _lenient_fields(line.decode("utf-8", "surrogateescape")))
    value = _lenient_json(text)
    if isinstance(value, dict) and not _is_clean(value):
        return RowFailure("lone_surrogate", line, clean_fields(value))
    # Not JSON, or JSON no parser here represents faithfully: NaN, infinities, nesting beyond 1024 levels.
    return RowFailure("malformed_json", line)


def _lenient_json(text: str) -> Any:
    """Python's parser (which accepts lone surrogates) without NaN and infinities; None when it fails."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None


def _lenient_fields(text: str) -> dict[str, Any]:
    value = _lenient_json(text)
    return clean_fields(value) if isinstance(value, dict) else {}


def _is_clean(value: Any) -> bool:
    """Whether every string in ``value`` (keys included) encodes as UTF-8: no lone surrogates."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_is_clean(k) and _is_clean(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_clean(item) for item in value)
    return True


def clean_fields(value: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level string and integer fields of a broken row that read cleanly (candidates for its id)."""
    return {
        key: item
        for key, item in value.items()
        if _is_clean(key) and ((isinstance(item, str) and _is_clean(item)) or type(item) is int)
    }
