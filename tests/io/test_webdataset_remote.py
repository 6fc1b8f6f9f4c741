"""Gzipped WebDataset shards and image folders in an object store (fsspec's memory store, no server)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import fsspec

from datahygiene.io.sources import ByteMeter, discover
from tests.conftest import png_bytes


def _tgz(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for key in range(count):
            data = gzip.compress(f"caption {key}".encode())
            info = tarfile.TarInfo(f"k{key:03d}.txt.gz")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_gzipped_shard_in_a_bucket_reads_counts_bytes_and_knows_its_size(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    root = f"/wds-{tmp_path.name}"
    data = _tgz(40)
    fs.pipe_file(f"{root}/shards/a.tgz", data)
    fs.pipe_file(f"{root}/shards/b.tar.gz", data)
    shards = discover([f"memory://{root}/shards/"])
    assert [(s.kind, Path(s.shard_id).name) for s in shards] == [("webdataset", "a.tgz"), ("webdataset", "b.tar.gz")]
    assert [s.size() for s in shards] == [len(data), len(data)]  # the progress bar's byte total
    meter = ByteMeter()
    rows = [row for batch in shards[0].read(16, meter=meter) for row in batch.rows or [] if isinstance(row, dict)]
    assert [row["text"] for row in rows[:2]] == [b"caption 0", b"caption 1"]  # .txt.gz members decompressed
    assert len(rows) == 40
    assert meter.bytes == len(data)


def test_an_image_folder_in_a_bucket_sums_its_members(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    root = f"/img-{tmp_path.name}"
    pictures = [png_bytes(colour=colour) for colour in ("red", "green", "blue")]
    for number, picture in enumerate(pictures):
        fs.pipe_file(f"{root}/pics/{number}.png", picture)
    (shard,) = discover([f"memory://{root}/pics/"])
    assert shard.kind == "images"
    assert shard.known_rows() == 3
    assert shard.size() == sum(map(len, pictures))
