"""Columns the scan must tolerate: NaN scores, embeddings, hashes, files that lack a column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.reports.datasheet import build_datasheet
from datahygiene.reports.datasheet.scan import family_masks, reason_family


def _manifest(kept: int, rejected: int, reasons: dict[str, int]) -> dict[str, object]:
    return {
        "rows_in": kept + rejected,
        "rows_kept": kept,
        "rows_rejected": rejected,
        "rows_quarantined": 0,
        "reject_reasons": reasons,
        "shards": [],
        "models": [],
        "policy": [{"when": "nsfw >= 0.5", "action": "reject", "reason": None}],
    }


def test_hand_made_run_with_odd_columns(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "rejected").mkdir()
    kept = pa.table(
        {
            "id": ["a", "b", "c"],
            "text": ["one", None, "three"],
            "nsfw": pa.array([0.1, float("nan"), None], pa.float32()),
            "clip_embedding": pa.array([[0.1, 0.2]] * 3, pa.list_(pa.float32())),
            "phash": pa.array([1, 2, 3], pa.uint64()),
            "copyright_signals": pa.array([["watermark"], [], None], pa.list_(pa.string())),
            "reject_reasons": pa.array([[], [], []], pa.list_(pa.string())),
        }
    )
    pq.write_table(kept, tmp_path / "kept" / "part-00000.parquet")
    rejected = pa.table(  # an older file without the tag and embedding columns
        {
            "id": ["d"],
            "text": ["four"],
            "nsfw": pa.array([0.9], pa.float32()),
            "reject_reasons": pa.array([["nsfw>=0.5"]], pa.list_(pa.string())),
        }
    )
    pq.write_table(rejected, tmp_path / "rejected" / "part-00000.parquet")
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest(3, 1, {"nsfw>=0.5": 1})))
    sheet = build_datasheet(tmp_path)
    assert sheet.warnings == []
    (nsfw,) = sheet.histograms
    assert (nsfw.column, sum(nsfw.kept), sum(nsfw.removed), nsfw.nulls) == ("nsfw", 1, 1, 2)
    assert [(t.op, t.value) for t in nsfw.thresholds] == [(">=", 0.5)]
    assert [t.column for t in sheet.tags] == ["copyright_signals"]
    assert sheet.tags[0].values == {"watermark": {"kept": 1, "removed": 0}}
    assert [n.column for n in sheet.numbers] == []  # phash (uint64) is a hash, not a statistic
    assert sheet.modalities == {"text_only": 2, "neither": 1}
    assert sheet.card["task_categories"] == []  # unknown unless a person says


def test_reason_families() -> None:
    assert [reason_family(r) for r in ("blocklist:slurs", "toxicity>0.8", "dup:near")] == [
        "blocklist:*",
        "toxicity>0.8",
        "dup:*",
    ]
    reasons = pa.array([["blocklist:a", "toxicity>0.8"], [], ["blocklist:b"], None], pa.list_(pa.string()))
    masks = family_masks(reasons)
    assert {k: v.tolist() for k, v in masks.items()} == {
        "blocklist:*": [True, False, True, False],
        "toxicity>0.8": [True, False, False, False],
    }
    assert family_masks(pa.array([[], []], pa.list_(pa.string()))) == {}
    assert np.array_equal(masks["blocklist:*"], np.array([True, False, True, False]))


def test_reasons_trace_back_to_rule_column_and_stage() -> None:
    from datahygiene.reports.datasheet.provenance import INPUT_CHECK, reason_sources

    policy: list[dict[str, Any]] = [
        {"when": "toxicity > 0.8", "action": "reject", "reason": None},
        {"when": "blocklist_lists not_empty", "action": "reject", "reason": "blocklist:{value}"},
        {"when": "likeness_signals not_empty", "action": "quarantine", "reason": "likeness:{value}"},
    ]
    models = [{"stage": "text.toxicity", "model": "detoxify-original", "columns": ["toxicity", "tox_insult"]}]
    sources = reason_sources(
        ["toxicity>0.8", "blocklist:slurs", "likeness:face_match", "image_truncated"], policy, models
    )
    assert sources["toxicity>0.8"] == {
        "rule": "toxicity > 0.8",
        "action": "reject",
        "column": "toxicity",
        "stage": "text.toxicity",
        "model": "detoxify-original",
    }
    assert sources["blocklist:slurs"]["column"] == "blocklist_lists"
    assert sources["blocklist:slurs"]["stage"] is None  # no stage listed that column
    assert sources["likeness:face_match"]["action"] == "quarantine"
    assert sources["image_truncated"]["rule"] == INPUT_CHECK


def test_bare_value_reasons_only_claim_what_their_rule_can_produce() -> None:
    from datahygiene.reports.datasheet.provenance import INPUT_CHECK, reason_sources

    policy: list[dict[str, Any]] = [
        {"when": "copyright_signals contains opt_out:*", "action": "reject", "reason": "{value}"},
        {"when": "copyright_signals contains license:nc", "action": "quarantine", "reason": "{value}"},
    ]
    sources = reason_sources(["opt_out:c2pa", "license:nc", "license:nd", "image_truncated"], policy, [])
    assert sources["opt_out:c2pa"]["rule"] == "copyright_signals contains opt_out:*"
    assert sources["license:nc"]["action"] == "quarantine"
    assert sources["license:nd"]["rule"] == INPUT_CHECK
    assert sources["image_truncated"]["rule"] == INPUT_CHECK


def test_columns_are_found_by_the_role_their_stage_gave_them(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "n_faces": pa.array([2, 0, 1], pa.int32()),
            "faces": pa.array([9, 9, 9], pa.int32()),  # same name as the likeness column, but no role: ignored
            "kind_of_copy": pa.array(["exact", None, "near"]),
            "reject_reasons": pa.array([[], [], []], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, tmp_path / "kept" / "part-00000.parquet")
    manifest = {**_manifest(3, 0, {}), "column_roles": {"n_faces": "face_count", "kind_of_copy": "duplicate_kind"}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    sheet = build_datasheet(tmp_path)
    assert sheet.faces == {"rows_with_faces_kept": 2, "faces_kept": 3}
    assert sheet.duplicates == {"exact": {"kept": 1, "removed": 0}, "near": {"kept": 1, "removed": 0}}
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest(3, 0, {})))  # no roles recorded
    unlabelled = build_datasheet(tmp_path)
    assert unlabelled.faces == {}
    assert unlabelled.duplicates == {}
