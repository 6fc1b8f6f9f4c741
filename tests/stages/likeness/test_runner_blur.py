"""Blurring through the runner: kept rows are written with blurred faces, others keep the original."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from datahygiene.core import columns as C
from datahygiene.core.policy import Route
from datahygiene.engine.commit import replace_kept_images
from datahygiene.stages.likeness.retina import WEIGHTS_SHA256
from tests.helpers import rows_by_id, run_inputs
from tests.stages.likeness.conftest import encode, scene


def test_kept_rows_blurred_rejected_rows_original(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    face, plain = encode(scene()), encode(scene(face=0))
    images = [face, face, plain, b"not an image"]
    texts = ["a quiet lake", "Portrait of Eileen Collins", "a lake at dawn", "broken"]
    data = write_parquet(
        "in.parquet",
        {
            "id": ["blur", "named", "plain", "broken"],
            "text": texts,
            "image": [{"bytes": b, "path": None} for b in images],
        },
    )
    overrides = (
        "stages=[{name: likeness, params: {blur: [face]}}]",
        "policy.rules=[{when: 'likeness_signals contains person_name', reason: 'likeness:person_name'}]",
    )
    result = run_inputs([data], tmp_path / "out", *overrides, write_documents=False)
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert {key: row["route"] for key, row in rows.items()} == {
        "blur": "kept",
        "named": "rejected",
        "plain": "kept",
        "broken": "rejected",
    }
    assert rows["blur"][C.IMAGE]["bytes"] != face
    assert rows["blur"]["faces_blurred"] is True
    assert rows["named"][C.IMAGE]["bytes"] == face
    assert rows["named"]["faces_blurred"] is True
    assert rows["plain"][C.IMAGE]["bytes"] == plain
    assert rows["plain"]["faces_blurred"] is False
    assert rows["broken"]["faces"] is None
    assert rows["broken"]["likeness_signals"] == []
    assert rows["named"]["reject_reasons"] == ["likeness:person_name"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows_in"] == 4
    assert manifest["rows_kept"] == 2
    assert manifest["rows_rejected"] == 2
    rerun = run_inputs([data], tmp_path / "again", *overrides, write_documents=False)
    hashes = [
        {f["path"]: f["sha256"] for shard in m["shards"] for files in shard["files"].values() for f in files}
        for m in (manifest, rerun.manifest)
    ]
    assert len(hashes[0]) == 2
    assert hashes[0] == hashes[1]  # blurring is deterministic, so resumed runs stay byte-identical
    (likeness,) = [m for m in manifest["models"] if m["stage"] == "likeness"]
    assert likeness["model"] == "retinaface"
    assert likeness["sha256"] == likeness["faces"]["sha256"] == WEIGHTS_SHA256
    assert likeness["blur"] == ["face"]


def test_replace_kept_images_keeps_paths_nulls_and_other_routes() -> None:
    images = pa.array(
        [{"bytes": b"a", "path": "a.png"}, None, {"bytes": b"c", "path": None}, {"bytes": b"d", "path": "d.jpg"}],
        C.IMAGE_TYPE,
    )
    records = pa.RecordBatch.from_pydict({"id": ["a", "b", "c", "d"], "image": images})
    route = np.array([Route.KEPT, Route.KEPT, Route.REJECTED, Route.KEPT], dtype=np.int8)
    out = replace_kept_images(records, route, {0: b"A", 2: b"C"})
    assert out.column(1).to_pylist() == [
        {"bytes": b"A", "path": "a.png"},
        None,
        {"bytes": b"c", "path": None},
        {"bytes": b"d", "path": "d.jpg"},
    ]
    assert out.schema == records.schema
    assert replace_kept_images(records, route, None) is records
    assert replace_kept_images(records, route, {2: b"C"}) is records
