"""One bad value never costs a shard: over-long texts, lossy casts, hostile values in every stage (issue 16: 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from datahygiene.core.config import load_config
from datahygiene.core.stage import Batch, StageContext
from datahygiene.engine.run import run
from datahygiene.stages.textstats import TextStats, TextStatsParams
from tests.helpers import rows_by_id, run_inputs

LONG = 16_777_217  # one past float32's exact integers: text.stats used to raise on it


def test_text_stats_counts_a_text_beyond_float32_integers() -> None:
    stage = TextStats(TextStatsParams(), StageContext())
    text = pa.array(["a" * LONG, "ab cd!", "", None], pa.string())
    columns = stage.process(Batch(records=pa.RecordBatch.from_arrays([text], names=["text"])))
    assert columns["text_chars"].to_pylist() == [LONG, 6, 0, None]
    assert columns["text_words"].to_pylist() == [1, 2, 0, None]
    assert columns["text_alpha_ratio"].to_pylist() == [1.0, pytest.approx(4 / 6), None, None]


def _long_shard(tmp_path: Path) -> Path:
    path = tmp_path / "long.jsonl"
    rows = [{"id": "short", "text": "a good row"}, {"id": "long", "text": "a" * LONG}, {"id": "after", "text": "ok"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_text_over_the_limit_is_rejected_and_kept_in_raw(tmp_path: Path) -> None:
    result = run_inputs([_long_shard(tmp_path)], tmp_path / "out")
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert rows["long"]["reject_reasons"] == ["text_too_long"]
    assert rows["long"]["text"] is None
    assert rows["long"]["raw"] == b"a" * LONG  # nothing lost
    assert rows["short"]["route"] == rows["after"]["route"] == "kept"
    assert result.manifest["reject_reasons"] == {"text_too_long": 1}


def test_a_text_under_a_raised_limit_is_scored_without_failing_the_shard(tmp_path: Path) -> None:
    result = run_inputs([_long_shard(tmp_path)], tmp_path / "out", f"limits.max_text_chars={LONG}")
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert rows["long"]["route"] == "kept"
    assert rows["long"]["text_chars"] == LONG


def test_the_limit_applies_to_columnar_inputs(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,text\nc1,short\nc2," + "b" * 60 + "\n")
    run_inputs([path], tmp_path / "out", "limits.max_text_chars=50")
    rows = rows_by_id(tmp_path / "out")
    assert rows["c2"]["reject_reasons"] == ["text_too_long"]
    assert rows["c2"]["raw"] == b"b" * 60
    assert rows["c1"]["route"] == "kept"


@pytest.mark.slow
def test_hostile_values_do_not_fail_a_shard_of_the_default_config(tmp_path: Path) -> None:
    hostile: list[dict[str, Any]] = [
        {"id": "nul", "text": "nul \x00 inside", "url": "http://\x00/", "license": "\x00"},
        {"id": "one-word", "text": "x" * 20_000},
        {"id": "controls", "text": "\u202e\u200b\ufeff" * 200 + " text"},
        {"id": "url", "text": "ok", "url": "http://[::1" + "%" * 500, "license": "CC-BY-NC-ND-" * 200},
        {"id": "emoji", "text": "\U0001f600" * 500},
        {"id": "image-path-nul", "text": "a path with a NUL", "image": "a\x00b.jpg"},
        {"id": "image-path-int", "text": "a path that is a number", "image": {"bytes": None, "path": 7}},
        {"id": "numbers", "text": 1e308, "url": -(2**63)},
        {"id": "nested", "text": "deep metadata", "v": json.loads("[" * 300 + "]" * 300)},
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in hostile))
    config = load_config(None, ["models.offline=true"])
    result = run(config, [str(path)], tmp_path / "out", write_documents=False)
    assert result.failed_shards == []
    rows = rows_by_id(tmp_path / "out")
    assert set(rows) == {row["id"] for row in hostile}
    assert rows["image-path-nul"]["reject_reasons"] == ["image_missing_file"]
    assert rows["image-path-int"]["reject_reasons"] == ["wrong_type:image"]
    assert json.loads(rows["nested"]["metadata"]) == {"v": hostile[-1]["v"]}
