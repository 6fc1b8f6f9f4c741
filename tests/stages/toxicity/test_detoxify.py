"""Detoxify stage on a tiny checkpoint, and the profanity fallback on real inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.toxicity.detoxify import (
    DetoxifyParams,
    DetoxifyStage,
    ProfanityParams,
    ProfanityStage,
    length_batches,
)

TEXTS = ["hello world", None, "you are a bad idiot and i hate you " * 20, "", "the cat", "love people"]


def test_detoxify_matches_reference_predict(models_dir: Path) -> None:
    from detoxify import Detoxify

    stage = DetoxifyStage(
        DetoxifyParams(batch_size=2, max_length=512), StageContext(models_dir=models_dir, offline=True)
    )
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": TEXTS})))
    assert set(out) == {f.name for f in stage.output_schema()}
    assert out["tox_toxicity"].null_count == 2
    assert out["toxicity"].to_pylist()[1] is None
    folder = models_dir / "detoxify" / "original"
    reference = Detoxify(checkpoint=str(folder / "model.ckpt"), huggingface_config_path=str(folder))
    texts = [t for t in TEXTS if t]
    expected = reference.predict(texts)
    got = [v for v in out["tox_insult"].to_pylist() if v is not None]
    np.testing.assert_allclose(got, expected["insult"], atol=1e-4)
    tox = np.array([v for v in out["toxicity"].to_pylist() if v is not None])
    stacked = np.array([[v for v in out[f"tox_{k}"].to_pylist() if v is not None] for k in expected]).max(axis=0)
    np.testing.assert_allclose(tox, stacked)
    described = stage.describe()
    assert len(described["sha256"]) == 64
    assert described["weights"].endswith("model.ckpt")


def test_falls_back_when_weights_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        params = DetoxifyParams(variant="unbiased", fallback="toxicity.profanity")
        stage = DetoxifyStage(params, StageContext(models_dir=tmp_path, offline=True))
    assert "fallback" in caplog.text
    assert stage.describe()["fallback"]["model"] == "alt-profanity-check"
    assert [f.name for f in stage.output_schema()] == ["tox_profanity", "toxicity"]


def test_no_fallback_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        DetoxifyStage(
            DetoxifyParams(variant="unbiased", fallback=None), StageContext(models_dir=tmp_path, offline=True)
        )


def test_profanity_fallback_real_model() -> None:
    stage = ProfanityStage(ProfanityParams(), StageContext(offline=True))
    texts = ["what a lovely afternoon in the park", None, "you are a fucking piece of shit"]
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": texts})))
    scores = out["toxicity"].to_pylist()
    assert scores[1] is None
    assert scores[0] is not None
    assert scores[2] is not None
    assert scores[0] < 0.3 < 0.7 < scores[2]


def test_bf16_autocast_stays_close_to_fp32(models_dir: Path) -> None:
    context = StageContext(models_dir=models_dir, offline=True)
    records = pa.RecordBatch.from_pydict({"text": TEXTS})
    fp32 = DetoxifyStage(DetoxifyParams(batch_size=2), context).process(Batch(records=records))
    bf16_stage = DetoxifyStage(DetoxifyParams(batch_size=2, precision="bf16"), context)
    bf16 = bf16_stage.process(Batch(records=records))
    assert bf16_stage.describe()["precision"] == "bf16"
    assert bf16["toxicity"].null_count == 2
    got = np.array([v for v in bf16["toxicity"].to_pylist() if v is not None])
    want = np.array([v for v in fp32["toxicity"].to_pylist() if v is not None])
    np.testing.assert_allclose(got, want, atol=2e-2)


def test_length_batches_cover_rows_in_order_and_bound_padding() -> None:
    lengths = np.sort(np.random.default_rng(0).lognormal(np.log(27), 0.9, 300).astype(np.int64) + 2)
    batches = length_batches(lengths, 32)
    assert [i for b in batches for i in range(len(lengths))[b]] == list(range(len(lengths)))
    assert all(0 < b.stop - b.start <= 32 for b in batches)
    padded = sum(int(lengths[b.stop - 1]) * (b.stop - b.start) for b in batches)
    assert padded <= 1.2 * lengths.sum() + 4 * len(lengths)
    assert len(length_batches(np.full(100, 7), 32)) == 4  # equal lengths: full batches
