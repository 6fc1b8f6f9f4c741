"""The duplicate-id index: first occurrence keeps its id, within a batch, across batches, shards and rollbacks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from datahygiene.ids import IdIndex


def test_first_occurrence_keeps_the_id(tmp_path: Path) -> None:
    index = IdIndex()
    assert index.check_and_add(pa.array(["a", "b", "a", "c", "b", "a"])).tolist() == [0, 0, 1, 0, 1, 1]
    assert index.check_and_add(pa.array(["c", "d", "d"])).tolist() == [1, 0, 1]
    index.commit(tmp_path)
    assert index.check_and_add(pa.array(["e", "a"])).tolist() == [0, 1]
    index.rollback()  # the shard holding "e" failed: "e" is free again, committed ids are not
    assert index.check_and_add(pa.array(["e", "d"])).tolist() == [0, 1]


def test_reloaded_index_remembers_committed_ids(tmp_path: Path) -> None:
    first = IdIndex()
    first.check_and_add(pa.array([f"id-{k}" for k in range(100_000)]))
    first.commit(tmp_path)
    second = IdIndex()
    second.load([tmp_path])
    mask = second.check_and_add(pa.array(["id-99999", "new", "id-0", "new"]))
    assert mask.tolist() == [1, 0, 1, 1]
