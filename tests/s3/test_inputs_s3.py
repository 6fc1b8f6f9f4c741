"""``--input`` URLs: JSONL, Parquet, CSV, WebDataset and an image folder read from the bucket as from disk."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from datahygiene.cli.demo import make_demo
from datahygiene.core.config import load_config
from datahygiene.engine.run import run
from datahygiene.io.sources import InputError, discover
from datahygiene.io.storage import Store
from tests.conftest import jpeg_bytes
from tests.s3 import dedup_config

CONFIG = dedup_config(64)


def _inputs(directory: Path) -> Path:
    make_demo(directory)
    pacsv.write_csv(pa.table({"id": ["c1", "c2"], "text": ["a csv row", "a csv row"]}), directory / "rows.csv")
    with tarfile.open(directory / "samples.tar", "w") as archive:
        for key, payload in (("s1.jpg", jpeg_bytes(colour="green")), ("s1.txt", b"caption one")):
            info = tarfile.TarInfo(key)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return directory


def _rows(result_output: str | Path, inputs: str) -> list[dict[str, object]]:
    """Every output row; the input's location (in ``source_shard`` and derived ids) reads ``IN``."""
    store = Store.open(result_output) if isinstance(result_output, str) else None
    rows: list[dict[str, object]] = []
    for route in ("kept", "rejected", "quarantined"):
        names = (
            store.listing(route) if store else [str(p) for p in sorted(Path(result_output, route).glob("*.parquet"))]
        )
        for name in names:
            table = pq.read_table(pa.py_buffer(store.read_bytes(name))) if store else pq.read_table(name)
            for row in table.to_pylist():
                named = {k: v.replace(inputs, "IN") if isinstance(v, str) else v for k, v in row.items()}
                rows.append({**named, "route": route})
    return sorted(rows, key=lambda row: (str(row["id"]), str(row["route"])))


def test_every_input_kind_reads_from_s3_like_from_disk(bucket: str, tmp_path: Path) -> None:
    local = _inputs(tmp_path / "in")
    store = Store.open(f"{bucket}/in")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put_file(path, path.relative_to(local).as_posix())
    config_path = tmp_path / "config.yaml"
    config_path.write_text(CONFIG)
    config = load_config(config_path)

    names = ["texts.jsonl", "pairs.parquet", "rows.csv", "samples.tar", "photos"]
    on_disk = run(config, [str(local / n) for n in names], tmp_path / "disk", write_documents=False)
    from_s3 = run(config, [f"{bucket}/in/{n}" for n in names], f"{bucket}/out", write_documents=False)
    assert on_disk.exit_code == from_s3.exit_code == 0
    for key in ("rows_in", "rows_kept", "rows_rejected", "reject_reasons", "shards_total"):
        assert from_s3.manifest[key] == on_disk.manifest[key], key
    assert on_disk.manifest["reject_reasons"].get("duplicate:exact", 0) >= 1
    assert _rows(f"{bucket}/out", f"{bucket}/in") == _rows(tmp_path / "disk", str(local))


def test_globs_folders_and_fingerprints_on_a_bucket(bucket: str, tmp_path: Path) -> None:
    store = Store.open(f"{bucket}/data")
    for number in range(3):
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"id": [f"r{number}"], "text": ["x"]}), sink)
        store.put_bytes(f"day/part-{number}.parquet", sink.getvalue().to_pybytes())
    store.put_bytes("day/notes.md", b"not data")
    shards = discover([f"{bucket}/data/day/*.parquet", f"{bucket}/data/day/part-1.parquet"])
    assert [s.shard_id for s in shards] == [f"{bucket}/data/day/part-{n}.parquet" for n in range(3)]
    assert [s.known_rows() for s in shards] == [1, 1, 1]
    assert len(discover([f"{bucket}/data/day"])) == 3
    before = shards[0].fingerprint()
    assert shards[0].fingerprint() == before
    store.put_bytes("day/part-0.parquet", store.read_bytes("day/part-1.parquet") + b"")
    store.put_bytes("day/part-0.parquet", store.read_bytes("day/part-2.parquet"))
    assert shards[0].fingerprint() != before, "a rewritten object changes the shard's fingerprint"
    with pytest.raises(InputError, match="matches no file"):
        discover([f"{bucket}/data/nothing-*.parquet"])
