"""What the readers produce: rows as read (:class:`SourceBatch`), failed rows kept with their bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class RowFailure:
    """Why a row could not be parsed, with its original bytes."""

    reason: str
    raw: bytes


#: Default byte budget of one batch as read (``RunConfig.batch_bytes``).
DEFAULT_BATCH_BYTES = 64 << 20


@dataclass
class SourceBatch:
    """Rows as read. ``records`` is columnar; ``rows`` is used by row-based formats.

    Exactly one of ``records``, ``rows`` and ``json_lines`` is set. In ``rows``, a
    failed row is a :class:`RowFailure`; in columnar batches failures are listed in
    ``failures`` as (row index, failure) and their record values are null.
    ``json_lines`` holds whole JSON Lines as read (blank lines included); the
    normaliser parses them (columnar when it can, else line by line).
    """

    records: pa.RecordBatch | None = None
    rows: list[dict[str, Any] | RowFailure] | None = None
    failures: list[tuple[int, RowFailure]] = field(default_factory=list)
    json_lines: bytes | None = None


def parse_json_line(line: bytes) -> dict[str, Any] | RowFailure:
    """Parse one JSONL line; failures say whether the bytes or the JSON are bad."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return RowFailure("invalid_utf8", line)
        try:
            value = orjson.loads(text.encode("utf-8", "surrogatepass"))
        except orjson.JSONDecodeError:
            import json

            try:
                json.loads(text)
            except ValueError:
                return RowFailure("malformed_json", line)
            # Valid JSON that orjson refuses: lone surrogates in \u escapes.
            return RowFailure("lone_surrogate", line)
    if not isinstance(value, dict):
        return RowFailure("malformed_json", line)
    return value


def json_line_rows(block: bytes) -> list[dict[str, Any] | RowFailure]:
    """The non-blank lines of a JSON Lines block, parsed one by one (failures kept as rows)."""
    rows: list[dict[str, Any] | RowFailure] = []
    for line in block.split(b"\n"):
        content = line.rstrip(b"\r\n")
        if content.strip():  # blank lines are separators, not rows
            rows.append(parse_json_line(content))
    return rows


def load_hf(path: str, args: dict[str, str]) -> Any:
    """The streaming Hugging Face dataset named by an ``hf:`` spec (``datasets`` is imported here only)."""
    import datasets

    options: dict[str, Any] = {"streaming": True, "split": args.get("split", "train")}
    if "name" in args:
        options["name"] = args["name"]
    if "data_files" in args:
        options["data_files"] = args["data_files"].split(",")
    if "data_dir" in args:
        options["data_dir"] = args["data_dir"]
    return datasets.load_dataset(path, **options)
