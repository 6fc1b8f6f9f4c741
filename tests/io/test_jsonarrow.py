"""JSON Lines: the Arrow-parsed batches equal the line-by-line parser's, and fall back where they would not."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from datahygiene.core.config import ColumnMap
from datahygiene.io import normalize as N
from datahygiene.io.jsonarrow import json_lines_columnar
from datahygiene.io.jsonline import json_line_rows
from datahygiene.io.sources import ShardSource, SourceBatch

CONTEXT = N.ShardContext(shard_id="s.jsonl", root=None, columns=ColumnMap())

BLOCKS = {
    "plain": b'{"id": "a", "text": "one"}\n{"id": "b", "text": "two \\u00e9 \\"q\\""}\n',
    "blank lines": b'\n{"id": "a", "text": "x"}\n   \n\r\n{"text": "y"}\n\n',
    "no final newline": b'{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}',
    "crlf": b'{"id": "a", "text": "x"}\r\n{"id": "b", "text": "y"}\r\n',
    "integer ids": b'{"id": 7, "text": "x"}\n{"id": -3, "text": "y"}\n',
    "nulls and missing keys": b'{"id": "a", "text": null}\n{"id": "b"}\n{}\n{"text": "z", "url": "https://e.org"}\n',
    "whitespace-only text": b'{"id": "a", "text": " \\n\\t "}\n{"id": "b", "text": ""}\n',
    "extra field": b'{"id": "a", "text": "x", "meta": {"k": 1}}\n',
    "second text candidate": b'{"id": "a", "text": "x", "caption": "c"}\n',
    "number text": b'{"id": "a", "text": 42}\n',
    "float id": b'{"id": 1.5, "text": "x"}\n',
    "huge id": b'{"id": 9223372036854775808, "text": "x"}\n',
    "nan id": b'{"id": NaN, "text": "x"}\n',
    "two objects on a line": b'{"id": "a", "text": "x"} {"id": "b", "text": "y"}\n',
    "malformed line": b'{"id": "a", "text": "x"}\n{"id": "b", "text": \n',
    "lone surrogate": b'{"id": "a", "text": "bad \\ud83d here"}\n',
    "invalid utf-8": b'{"id": "a", "text": "caf\xe9"}\n',
    "duplicate key": b'{"id": "a", "text": "x", "text": "y"}\n',
    "byte order mark": b'\xef\xbb\xbf{"id": "a", "text": "x"}\n',
    "vertical tab line": b'{"id": "a", "text": "x"}\n\x0b\n{"id": "b", "text": "y"}\n',
    "array line": b'["not", "an", "object"]\n',
    "case-colliding keys": b'{"Text": "x", "text": "y"}\n',
    "image path": b'{"id": "a", "image": "missing.jpg"}\n',
}


def _line_parser(block: bytes, context: N.ShardContext = CONTEXT) -> tuple[pa.RecordBatch, list[list[str]]]:
    records, reasons = N._normalize_rows(SourceBatch(rows=json_line_rows(block)), context, 0)
    return records, reasons.to_arrow().to_pylist()


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_columnar_jsonl_equals_line_parser(name: str) -> None:
    block = BLOCKS[name]
    records, reasons = N.normalize(SourceBatch(json_lines=block), CONTEXT, 0)
    ref_records, ref_reasons = _line_parser(block)
    assert records.schema == ref_records.schema
    assert records.to_pylist() == ref_records.to_pylist()
    assert reasons.to_arrow().to_pylist() == ref_reasons


@pytest.mark.parametrize(
    ("name", "arrow"),
    [
        ("plain", True),
        ("blank lines", True),
        ("integer ids", True),
        ("nulls and missing keys", True),
        ("two objects on a line", False),
        ("lone surrogate", False),
        ("invalid utf-8", False),
        ("byte order mark", False),
        ("vertical tab line", False),
        ("duplicate key", False),
    ],
)
def test_arrow_parses_only_blocks_it_parses_like_the_line_parser(name: str, arrow: bool) -> None:
    assert (json_lines_columnar(BLOCKS[name]) is not None) is arrow


def test_configured_column_map_is_honoured() -> None:
    context = N.ShardContext(shard_id="s", root=None, columns=ColumnMap(text="body", id="key"))
    block = b'{"key": "a", "body": "x"}\n{"key": "b", "body": "y", "text": "not the text"}\n'
    records, reasons = N.normalize(SourceBatch(json_lines=block), context, 0)
    ref_records, ref_reasons = _line_parser(block, context)
    assert records.to_pylist() == ref_records.to_pylist()
    assert reasons.to_arrow().to_pylist() == ref_reasons


def test_reader_cuts_whole_lines_by_bytes_and_rows(tmp_path: Path) -> None:
    lines = [b'{"id": "%d", "text": "%s"}' % (i, b"w" * (i % 7 * 40)) for i in range(500)]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines))  # no final newline
    shard = ShardSource(0, "jsonl", str(path), path, tmp_path, (path,))
    batches = list(shard.read(batch_size=64, batch_bytes=4096))
    blocks = [batch.json_lines for batch in batches]
    assert all(block is not None for block in blocks)
    assert b"".join(block for block in blocks if block is not None) == path.read_bytes()
    counts = [len(json_line_rows(block)) for block in blocks if block is not None]
    assert sum(counts) == 500
    assert max(counts) <= 64
    assert max(len(block) for block in blocks if block is not None) <= 4096 + max(len(line) + 1 for line in lines)
