"""Batches are bounded by bytes as well as rows, for every input kind; rows stay complete and in order."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from datahygiene.core.columns import IMAGE_TYPE
from datahygiene.core.config import ColumnMap
from datahygiene.io.batches import row_bytes, split_by_bytes
from datahygiene.io.normalize import ShardContext, normalize
from datahygiene.io.sources import discover
from tests.helpers import rows_by_id, run_inputs

BUDGET = 16 * 1024


def _texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [f"word{i} " * int(rng.integers(1, 1200)) for i in range(n)]


def _batches(path: Path, batch_size: int = 10_000, budget: int = BUDGET) -> list[pa.RecordBatch]:
    (shard,) = discover([str(path)])
    context = ShardContext(shard_id=shard.shard_id, root=shard.root, columns=ColumnMap())
    out, first = [], 0
    for source in shard.read(batch_size, budget):
        records, _ = normalize(source, context, first)
        first += records.num_rows
        out.append(records)
    return out


def _check(batches: list[pa.RecordBatch], expected_ids: list[str], longest: int) -> None:
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    assert ids == expected_ids  # every row once, in input order
    assert len(batches) > 3
    for batch in batches:
        assert batch.num_rows == 1 or int(row_bytes(batch).sum()) <= BUDGET + longest


def test_split_by_bytes_cuts_at_row_boundaries() -> None:
    texts = _texts(200)
    records = pa.record_batch({"id": [str(i) for i in range(200)], "text": texts})
    parts = split_by_bytes(records, BUDGET)
    assert sum(p.num_rows for p in parts) == 200
    assert pa.Table.from_batches(parts).equals(pa.Table.from_batches([records]))
    sizes = [int(row_bytes(p).sum()) for p in parts]
    assert all(size <= BUDGET + max(len(t) for t in texts) for size in sizes)
    assert max(sizes) > BUDGET // 2


def test_parquet_csv_and_jsonl_batches_are_byte_bounded(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    texts = _texts(300)
    ids = [f"r{i}" for i in range(300)]
    longest = max(len(t) for t in texts) + 16
    parquet = write_parquet("t.parquet", {"id": ids, "text": texts})
    _check(_batches(parquet), ids, longest)
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True)))
    _check(_batches(jsonl), ids, 2 * longest)
    csv = tmp_path / "t.csv"
    csv.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, texts, strict=True)))
    csv_batches = _batches(csv, budget=BUDGET)
    assert [i for b in csv_batches for i in b.column("id").to_pylist()] == ids
    assert max(int(row_bytes(b).sum()) for b in csv_batches) <= (1 << 16) + longest  # CSV reads 64 KiB blocks at least


def _jpeg(seed: int, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def test_image_folder_and_webdataset_batches_are_byte_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    blobs = {f"{k:03d}": _jpeg(k, (64 + 4 * k, 48)) for k in range(40)}
    for key, data in blobs.items():
        (folder / f"{key}.jpg").write_bytes(data)
    longest = max(len(b) for b in blobs.values())
    batches = _batches(folder)
    _check(batches, [f"{k}.jpg" for k in blobs], longest)
    tar = tmp_path / "shard.tar"
    with tarfile.open(tar, "w") as archive:
        for key, data in blobs.items():
            for name, payload in ((f"{key}.jpg", data), (f"{key}.txt", f"caption {key}".encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    _check(_batches(tar), list(blobs), longest + 64)


def test_a_run_decides_the_same_at_any_batch_size(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    texts = _texts(120)
    texts[50] = texts[3]
    texts[90] = texts[7] + " tail"
    blobs = [_jpeg(k % 30, (80, 60)) for k in range(60)]
    column = pa.array([{"bytes": b, "path": None} for b in blobs], type=IMAGE_TYPE)
    text_path = write_parquet("t.parquet", {"id": [f"t{i}" for i in range(120)], "text": texts})
    image_path = tmp_path / "i.parquet"
    pq.write_table(pa.table({"id": [f"i{i}" for i in range(60)], "image": column}), image_path)
    outputs = {}
    for budget in (4096, 64 << 20):
        out = tmp_path / f"out-{budget}"
        run_inputs([text_path, image_path], out, f"batch_bytes={budget}", "stages=[{name: dedup}]")
        outputs[budget] = {
            key: (row["route"], row["dup_of"], row["dup_kind"], row["dup_similarity"])
            for key, row in rows_by_id(out).items()
        }
    assert outputs[4096] == outputs[64 << 20]
    assert outputs[4096]["t50"][1:3] == ("t3", "exact")
    assert outputs[4096]["i45"][1] == "i15"
