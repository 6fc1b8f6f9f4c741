"""A run into fsspec's in-memory store: the object-store commit path and the lease lock, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datahygiene.core.config import parse_config
from datahygiene.engine.plan import OutputBusyError
from datahygiene.engine.run import run
from datahygiene.io.lease import ObjectLock
from datahygiene.io.rundir import RunDir
from datahygiene.io.storage import Store
from datahygiene.reports.verify import verify_run

CONFIG = parse_config(
    {
        "batch_size": 50,
        "stages": [{"name": "text.stats"}, {"name": "dedup"}],
        "policy": {"rules": [{"when": "dup_kind not_null", "reason": "duplicate:{value}"}]},
    }
)


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    """Three shards holding the same 120 lines (shards 1 and 2 are exact duplicates of shard 0)."""
    paths = []
    for shard in range(3):
        texts = [f"line {row} of the memory store test" for row in range(120)]
        path = tmp_path / f"{shard}.parquet"
        pq.write_table(pa.table({"id": [f"{shard}-{n}" for n in range(120)], "text": texts}), path)
        paths.append(str(path))
    return paths


def test_memory_store_run_matches_disk_and_leaves_no_strays(inputs: list[str], tmp_path: Path) -> None:
    url = f"memory://runs/{tmp_path.name}"
    disk = run(CONFIG, inputs, tmp_path / "disk", write_documents=False)
    stored = run(CONFIG, inputs, url, write_documents=False)
    assert stored.exit_code == disk.exit_code == 0
    assert stored.manifest["reject_reasons"] == disk.manifest["reject_reasons"] == {"duplicate:exact": 240}
    store = Store.open(url)
    for route in ("kept", "rejected"):
        for path in sorted((tmp_path / "disk" / route).glob("*.parquet")):
            assert store.read_bytes(f"{route}/{path.name}") == path.read_bytes()
    assert verify_run(RunDir.at(url)) == []
    record = json.loads(store.read_bytes("_commits/00002.json"))
    assert record["state"]["dedup/dedup-seg-000000.npz"] == "_state/00000/dedup/dedup-seg-000000.npz", (
        "an earlier segment is named by its first key, not uploaded again"
    )
    assert not store.exists("_state/00002/dedup/dedup-seg-000000.npz")

    store.put_bytes("kept/part-00009.parquet", b"stray")
    store.put_bytes("_state/00009/x", b"stray")
    run_dir = RunDir.at(url)
    assert sorted(run_dir.clean_uncommitted(run_dir.committed())) == ["_state/00009/x", "kept/part-00009.parquet"]
    assert verify_run(RunDir.at(url)) == []


def test_lease_refuses_a_second_run(inputs: list[str], tmp_path: Path) -> None:
    url = f"memory://runs/{tmp_path.name}-busy"
    holder = ObjectLock(Store.open(url), ttl=60)
    assert not holder.conditional
    holder.acquire()
    try:
        with pytest.raises(OutputBusyError):
            run(CONFIG, inputs, url, write_documents=False)
    finally:
        holder.release()
    assert run(CONFIG, inputs, url, write_documents=False).exit_code == 0
