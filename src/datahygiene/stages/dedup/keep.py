"""Which copy of a duplicate cluster is kept: the ``keep`` rule, one function for every dedup path.

The matcher's rule never changes: rows are visited one at a time, and a row becomes a duplicate of an
earlier-visited *representative* when it matches one, else a representative itself. ``keep`` only sets the
order in which the rows of one shard are visited:

* ``first``: input order (what dedup always did);
* ``largest``: most pixels (width x height of the decoded image), else longest text (characters), first;
* ``most_metadata``: most rights and provenance facts first: distinct ``copyright_signals`` and
  ``synthetic_signals``, plus one for a C2PA manifest (``c2pa_state`` set) and one for a licence;
* ``score``: highest value of the numeric column ``keep_score`` first (null and NaN last).

Ties keep input order (a stable sort), so every rule is deterministic. Shards are visited in input order:
a representative committed in an earlier shard (or an earlier run) stays the representative, since committed
shards are never rewritten; a better copy in a later shard is its duplicate. The streaming stage visits each
shard in this order once it has seen all of the shard's rows (``DedupStage.look``); the partitioned path
(:mod:`datahygiene.stages.dedup.partition_steps`) sorts each component's rows by (shard, this order). Both call
:func:`priority` and :func:`visit_order`, so they decide alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

KeepRule = Literal["first", "largest", "most_metadata", "score"]
F64 = npt.NDArray[np.float64]

#: Tag columns whose distinct entries count as rights / provenance facts for ``most_metadata``.
METADATA_LIST_COLUMNS = ("copyright_signals", "synthetic_signals")
#: Columns whose presence (not null, not empty) counts as one fact each for ``most_metadata``.
METADATA_PRESENT_COLUMNS = ("c2pa_state", "license")
#: Columns :func:`priority` may read (the partitioned path reads these from its sources).
PRIORITY_COLUMNS = ("text", *METADATA_LIST_COLUMNS, *METADATA_PRESENT_COLUMNS)


def _column(records: pa.RecordBatch, name: str) -> pa.Array | None:
    index = records.schema.get_field_index(name)
    return None if index < 0 else records.column(index)


def _floats(values: pa.Array) -> F64:
    return np.asarray(pc.fill_null(values, 0).to_numpy(zero_copy_only=False), dtype=np.float64)


def _size(records: pa.RecordBatch, images: Sequence[Image.Image | None] | None) -> F64:
    text = _column(records, "text")
    sizes = np.zeros(records.num_rows) if text is None else _floats(pc.utf8_length(text.cast(pa.string())))
    for row, image in enumerate(images or ()):
        if image is not None:
            sizes[row] = float(image.size[0] * image.size[1])
    return sizes


def _metadata_facts(records: pa.RecordBatch) -> F64:
    facts = np.zeros(records.num_rows)
    for name in METADATA_LIST_COLUMNS:  # both stages list each signal once per row
        column = _column(records, name)
        if column is not None:
            facts += _floats(pc.list_value_length(column))
    for name in METADATA_PRESENT_COLUMNS:
        column = _column(records, name)
        if column is not None:
            present = pc.and_(column.is_valid(), pc.greater(pc.binary_length(column.cast(pa.string())), 0))
            facts += _floats(present.cast(pa.int8()))
    return facts


def _score(records: pa.RecordBatch, column: str | None) -> F64:
    values = _column(records, column) if column else None
    if values is None:
        raise ValueError(f"keep: score needs the numeric column {column!r}, which this batch does not have")
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise ValueError(f"keep: score column {column!r} is {values.type}, not a number")
    # a copy: a column without nulls converts zero-copy, read-only
    scores = np.array(values.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    scores[np.isnan(scores)] = -np.inf  # nulls arrive as NaN
    return scores


def priority(
    records: pa.RecordBatch,
    images: Sequence[Image.Image | None] | None,
    rule: KeepRule,
    score_column: str | None = None,
) -> F64:
    """Per row, how strongly ``rule`` wants to keep it (higher is visited first; all zero for ``first``)."""
    if rule == "largest":
        return _size(records, images)
    if rule == "most_metadata":
        return _metadata_facts(records)
    if rule == "score":
        return _score(records, score_column)
    return np.zeros(records.num_rows)


def visit_order(priorities: F64) -> npt.NDArray[np.int64]:
    """The rows of one shard in the order the matcher visits them: highest priority first, ties in input order."""
    cleaned = np.where(np.isnan(priorities), -np.inf, priorities)
    return np.argsort(-cleaned, kind="stable").astype(np.int64)


def visit_rank(priorities: F64, shards: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each row's position in its shard's :func:`visit_order` (rows of ``shards`` numbered in input order).

    Sorting rows by (shard, rank) visits them as the streaming stage does, shard by shard.
    """
    rank = np.empty(len(priorities), dtype=np.int64)
    for shard in np.unique(shards).tolist():
        rows = np.flatnonzero(shards == shard)
        rank[rows[visit_order(priorities[rows])]] = np.arange(len(rows), dtype=np.int64)
    return rank
