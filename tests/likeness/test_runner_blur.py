"""Blurring through the runner: kept rows are written with blurred faces, others keep the original."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from datahygiene import columns as C
from tests.helpers import rows_by_id, run_inputs
from tests.likeness.conftest import encode, scene


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
    result = run_inputs(
        [data],
        tmp_path / "out",
        "stages=[{name: likeness, params: {blur: [face]}}]",
        "policy.rules=[{when: 'likeness_signals contains person_name', reason: 'likeness:person_name'}]",
        write_documents=False,
    )
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
    (likeness,) = [m for m in manifest["models"] if m["stage"] == "likeness"]
    assert likeness["model"] == "haar"
    assert likeness["blur"] == ["face"]
