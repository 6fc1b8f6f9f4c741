"""The duplicate-id index: first occurrence keeps its id, within a batch, across batches, shards and rollbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.engine import ids
from datahygiene.engine.ids import IdIndex, _HashSet, hash_ids


@pytest.mark.parametrize("spill", [False, True], ids=["pending-in-memory", "pending-in-a-file"])
def test_first_occurrence_keeps_the_id(tmp_path: Path, spill: bool) -> None:
    index = IdIndex(spill_dir=tmp_path / "spill" if spill else None)
    assert index.check_and_add(pa.array(["a", "b", "a", "c", "b", "a"])).tolist() == [0, 0, 1, 0, 1, 1]
    assert index.check_and_add(pa.array(["c", "d", "d"])).tolist() == [1, 0, 1]
    index.commit(tmp_path)
    assert index.check_and_add(pa.array(["e", "a"])).tolist() == [0, 1]
    index.rollback()  # the shard holding "e" failed: "e" is free again, committed ids are not
    assert index.check_and_add(pa.array(["e", "d"])).tolist() == [0, 1]


@pytest.mark.parametrize("spill", [False, True], ids=["pending-in-memory", "pending-in-a-file"])
def test_reloaded_index_remembers_committed_ids(tmp_path: Path, spill: bool) -> None:
    first = IdIndex(spill_dir=tmp_path / "spill" if spill else None)
    first.check_and_add(pa.array([f"id-{k}" for k in range(60_000)]))
    first.check_and_add(pa.array([f"id-{k}" for k in range(50_000, 100_000)]))
    first.commit(tmp_path)
    saved = np.fromfile(tmp_path / "id-hashes.u64", dtype="<u8")
    assert saved.tolist() == hash_ids(pa.array([f"id-{k}" for k in range(100_000)])).tolist()  # first-seen order
    second = IdIndex()
    second.load([tmp_path])
    mask = second.check_and_add(pa.array(["id-99999", "new", "id-0", "new"]))
    assert mask.tolist() == [1, 0, 1, 1]


def test_hash_depends_on_the_id_only() -> None:
    ids = ["", "a", "a\x00", "x" * 7, "x" * 8, "x" * 9, "é" * 40, "y" * 64, "y" * 65, "z" * 500, "doc-1", "doc-10"]
    hashes = hash_ids(pa.array(ids))
    assert len(set(hashes.tolist())) == len(ids)
    assert 0 not in hashes.tolist()
    padded = pa.array(["pad"] * 3 + ids + ["pad"]).slice(3, len(ids))  # non-zero array offset
    assert hash_ids(padded).tolist() == hashes.tolist()
    assert hash_ids(pa.array(ids, pa.large_string())).tolist() == hashes.tolist()
    assert hash_ids(pa.array(ids[::-1])).tolist() == hashes.tolist()[::-1]
    assert hash_ids(pa.array(ids, pa.string_view())).tolist() == hashes.tolist()


def test_hash_set_matches_a_python_set_under_clustered_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_PAD", 16)  # runs overflow the pad often: the table grows mid-batch
    rng = np.random.default_rng(7)
    table = _HashSet(capacity=64)
    reference: set[int] = set()
    for _ in range(40):
        keys = np.unique(rng.integers(1, 2**20, 300, dtype=np.uint64) << np.uint64(rng.integers(0, 40)))
        keys = keys[keys != 0]
        expected = [int(k) in reference for k in keys]
        assert table.add_unique(keys).tolist() == expected
        reference |= {int(k) for k in keys}
        assert sorted(table.keys().tolist()) == sorted(reference)
    removed = np.array(sorted(reference)[::3], dtype=np.uint64)
    table.remove_all(removed)
    reference -= {int(k) for k in removed}
    probe = np.array(sorted(reference)[:50] + [int(k) for k in removed[:50]], dtype=np.uint64)
    assert table.add_unique(probe).tolist() == [True] * 50 + [False] * 50


def test_resume_refuses_snapshots_of_the_older_hash(tmp_path: Path) -> None:
    np.save(tmp_path / "ids.npy", np.array([1, 2], dtype=np.uint64))
    with pytest.raises(ValueError, match="older datahygiene version"):
        IdIndex().load([tmp_path])


def test_hash_set_grows_when_a_probe_run_leaves_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_PAD", 2)
    pool = np.random.default_rng(3).integers(1, 2**63, 100_000, dtype=np.uint64)
    last = pool[ids._homes(pool, 64) == 63][:6]  # all want the table's last slot
    table = _HashSet(capacity=64)
    assert not table.add_unique(last).any()
    assert table.capacity > 64
    assert table.add_unique(np.concatenate([last, pool[:3]])).tolist() == [True] * 6 + [False] * 3


def test_reserving_room_changes_no_answer() -> None:
    index = IdIndex()
    index.reserve(1_000_000)
    assert index.check_and_add(pa.array(["a", "b", "a"])).tolist() == [0, 0, 1]
    index.reserve(10)
    assert index.check_and_add(pa.array(["b", "c"])).tolist() == [1, 0]
