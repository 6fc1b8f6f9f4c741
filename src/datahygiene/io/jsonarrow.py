"""JSON Lines parsed by Arrow (multi-threaded, no Python object per value) when that is equivalent.

The line-by-line parser (:func:`datahygiene.io.sources.parse_json_line` and the row normaliser) defines
the result: one row per non-blank line, failures kept as rows, fields that are not roles kept as JSON in
``metadata``. Arrow's reader gives the same rows for well-formed UTF-8 lines holding one object each;
:func:`json_lines_columnar` returns ``None`` for any other block (the caller then parses line by line),
and the normaliser uses the columns only when every field is a role holding strings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = b" \t\r\n"  # Python's bytes.strip() also strips \x0b and \x0c, which Arrow refuses


def json_lines_columnar(block: bytes) -> pa.Table | None:
    """The block's rows as Arrow parses them, or ``None`` where Arrow's rows could differ from the line parser's."""
    if not block or block.startswith(_BOM):
        return None
    lines: int | None = block.count(b"\n") + (not block.endswith(b"\n"))
    if block.count(b"\n{") + block.startswith(b"{") != lines:
        lines = _non_blank_lines(block)  # not every line starts an object: look for blank ones
    if lines is None or not _utf8(block):
        return None
    table = _read(block, len(block) + 1)
    pa.default_memory_pool().release_unused()  # the parser's scratch memory
    return table if table is not None and table.num_rows == lines else None  # two objects on a line differ


def _read(block: bytes, block_size: int) -> pa.Table | None:
    """Arrow's parse of the block in one piece (one chunk per column: no copy to combine them), or ``None``."""
    options = pajson.ReadOptions(block_size=block_size, use_threads=False)
    try:
        return pajson.read_json(pa.BufferReader(block), read_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _non_blank_lines(block: bytes) -> int | None:
    """Lines the line parser makes rows of; ``None`` if a line is blank to it but not to Arrow."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    starts, stops = np.r_[0, ends + 1], np.r_[ends, len(data)]
    lengths = stops - starts
    first = data[np.minimum(starts, len(data) - 1)]
    suspect = (lengths > 0) & ((first == ord(" ")) | (first < 14))  # may be whitespace only
    blank = int(np.count_nonzero(lengths == 0))
    for start, stop in zip(starts[suspect].tolist(), stops[suspect].tolist(), strict=True):
        line = block[start:stop]
        if not line.strip():
            if line.strip(_JSON_SPACE):
                return None
            blank += 1
    return len(starts) - blank


def _utf8(block: bytes) -> bool:
    """Whether the block is valid UTF-8 (Arrow's JSON reader does not check; the line parser does)."""
    offsets = pa.py_buffer(np.array([0, len(block)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(block)]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True
