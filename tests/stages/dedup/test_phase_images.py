"""The dedup phase on pictures (and captions) decides like the streaming stage, row for row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageOps

from datahygiene.core.columns import IMAGE_TYPE
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import Batch
from datahygiene.io.decode import decode_images

from .helpers import jpeg, make_stage, scene
from .phase_driver import COLUMNS, decide

SHARDS = (70, 0, 55, 45)


def rows() -> list[tuple[bytes | None, str | None]]:
    """Distinct scenes, then byte copies, re-encodes, resizes, mirrors, letterboxes, broken files and captions."""
    rng = np.random.default_rng(3)
    out: list[tuple[bytes | None, str | None]] = []
    made: list[Image.Image] = []
    while len(out) < sum(SHARDS):
        roll = rng.random()
        if roll < 0.4 or not made:
            picture = scene(int(rng.integers(1 << 30)), (160, 120))
            made.append(picture)
            out.append((jpeg(picture), None))
            continue
        source = made[int(rng.integers(len(made)))]
        if roll < 0.5:
            out.append((jpeg(source), "a caption"))
        elif roll < 0.6:
            out.append((jpeg(source, quality=60), None))
        elif roll < 0.7:
            out.append((jpeg(source.resize((80, 60))), None))
        elif roll < 0.8:
            out.append((jpeg(ImageOps.mirror(source)), None))
        elif roll < 0.88:
            out.append((jpeg(ImageOps.expand(source, border=(0, 20), fill="black")), None))
        elif roll < 0.94:
            out.append((b"not a picture", None))
        else:
            out.append((None, "a caption"))
    return out


def _table(ids: list[str], chunk: list[tuple[bytes | None, str | None]]) -> pa.Table:
    images = pa.array([None if b is None else {"bytes": b, "path": None} for b, _ in chunk], type=IMAGE_TYPE)
    texts = pa.array([t for _, t in chunk], type=pa.string())
    return pa.table({"id": pa.array(ids, type=pa.string()), "text": texts, "image": images})


@pytest.fixture(scope="module")
def tables() -> list[pa.Table]:
    planted, out, start = rows(), [], 0
    for size in SHARDS:
        out.append(_table([f"r{start + i}" for i in range(size)], planted[start : start + size]))
        start += size
    return out


def stage_columns(tables: list[pa.Table], params: dict[str, Any]) -> dict[str, list[Any]]:
    """The streaming stage over the same rows in batches of 40, pictures decoded by the runner's decoder."""
    stage = make_stage(**params)
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for records in pa.concat_tables(tables).to_batches(40):
        decoded = decode_images(
            records.column("image"), Reasons(records.num_rows), max_pixels=10**8, max_bytes=64 << 20
        )
        result = stage.process(Batch(records=records, images=decoded))
        for c in COLUMNS:
            out[c] += result[c].to_pylist()
    return out


@pytest.mark.parametrize(
    ("partitions", "params"),
    [(1, {}), (3, {}), (2, {"near_image": {"radius": 12, "mirror": False}, "text_on_image_rows": True})],
)
def test_pictures_decided_like_the_stage(
    tmp_path: Path, tables: list[pa.Table], partitions: int, params: dict[str, Any]
) -> None:
    expected = stage_columns(tables, params)
    kinds = expected["dup_kind"]
    assert kinds.count("exact") > 10
    assert kinds.count("near") > 20
    decided = decide(tables, params, tmp_path / "work", partitions, batch_rows=40)
    assert decided.columns["id"] == [f"r{i}" for i in range(sum(SHARDS))]
    for c in COLUMNS:
        assert decided.columns[c] == expected[c], c
    assert decided.summary["duplicates"] == len(kinds) - kinds.count(None)
