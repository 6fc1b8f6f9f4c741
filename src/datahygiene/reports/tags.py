"""Tag counts over a run's kept rows, for ``datahygiene inspect``.

A tag column is a ``list<string>`` column other than ``reject_reasons`` whose values are names
(``likeness_signals``, ``copyright_signals``, ``synthetic_signals``, ``nsfw_labels`` ...), not
evidence text or matched words (columns named ``*evidence*`` or ``*hits*`` are left out, as in the
datasheet). Kept rows are where such tags matter: the policy did not act on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datahygiene.core import columns as C

_SKIP_WORDS = ("evidence", "hits")
_BATCH_ROWS = 65536


def is_tag_column(field: pa.Field) -> bool:
    """Whether ``field`` holds tag names (see the module docstring)."""
    kind = field.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        return False
    if not (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
        return False
    return field.name != C.REJECT_REASONS and not any(word in field.name for word in _SKIP_WORDS)


@dataclass
class TagCount:
    """Kept rows carrying one tag, and the id of the first of them (to look up with ``datahygiene trace``)."""

    rows: int
    example_id: str | None


def kept_tag_counts(output: Path) -> dict[tuple[str, str], TagCount]:
    """(column, tag) -> kept rows carrying that tag, over every ``kept/*.parquet`` file in name order."""
    counts: dict[tuple[str, str], TagCount] = {}
    for path in sorted((output / "kept").glob("*.parquet")):
        parquet = pq.ParquetFile(path)
        names = [field.name for field in parquet.schema_arrow if is_tag_column(field)]
        if not names:
            continue
        wanted = [C.ID, *names] if C.ID in parquet.schema_arrow.names else names
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            ids = batch.column(C.ID) if C.ID in batch.schema.names else None
            for name in names:
                column = batch.column(name)
                pairs = pa.table({"row": pc.list_parent_indices(column), "tag": pc.list_flatten(column)})
                grouped = pairs.group_by("tag").aggregate([("row", "count_distinct"), ("row", "min")])
                for tag, rows, first in zip(*(grouped[c].to_pylist() for c in grouped.column_names), strict=True):
                    if tag is None:
                        continue
                    entry = counts.setdefault((name, tag), TagCount(0, None if ids is None else ids[first].as_py()))
                    entry.rows += int(rows)
    return counts
