"""ONNX Runtime backend: export agreement with torch, the cache, int8, and falling back to torch."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.toxicity import runtime
from datahygiene.stages.toxicity.detoxify import DetoxifyParams, DetoxifyStage
from datahygiene.stages.toxicity.embedding import EmbeddingParams, EmbeddingToxicityStage
from datahygiene.stages.toxicity.runtime import (
    OnnxModel,
    RuntimeUnavailableError,
    cached_onnx,
    resolve_runtime,
)
from datahygiene.stages.weights import sha256_file
from tests.conftest import eval_data_dir

TEXTS = ["hello world", None, "you are a bad idiot and i hate you " * 20, "", "the cat", "love people", "a"]
SENTENCES = [
    "Immigrants are vermin and should be wiped out.",
    "I will find you and break your legs, you worthless idiot.",
    "The bakery on the corner sells fresh bread every morning.",
    "Saying that immigrants are vermin is disgusting and I reported it.",
    "Fuck, I missed the bus again.",
    "This package provides the shared library for reading compressed archives. " * 6,
]


def tiny_bert(seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    """A random 2-layer BERT under mean pooling, and a padded sample batch."""
    import torch
    from transformers import BertConfig, BertModel

    from datahygiene.stages.toxicity.modules import MeanPooled

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    model = BertModel(config, add_pooling_layer=False)
    sample = {
        "input_ids": np.array([[2, 5, 6, 3], [2, 7, 3, 0]]),
        "attention_mask": np.array([[1, 1, 1, 1], [1, 1, 1, 0]]),
    }
    return MeanPooled(model).eval(), sample


def random_batch(rows: int, tokens: int, seed: int) -> dict[str, np.ndarray]:
    """Token ids with ragged lengths (right padding), as a tokenizer pads them."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 64, size=(rows, tokens))
    lengths = rng.integers(1, tokens + 1, size=rows)
    lengths[0] = tokens
    mask = (np.arange(tokens)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask}


def test_tiny_export_matches_torch_on_other_batch_shapes(tmp_path: Path) -> None:
    import torch

    module, _ = tiny_bert()
    path = cached_onnx("tiny", "0" * 64, tiny_bert, cache=tmp_path)
    model = OnnxModel(path, "onnx", threads=1)
    for rows, tokens in ((1, 1), (5, 9), (3, 40)):  # none is the (2, 4) shape the export traced
        batch = random_batch(rows, tokens, seed=rows)
        with torch.inference_mode():
            expected = module(**{k: torch.from_numpy(v) for k, v in batch.items()}).numpy()
        got = model(batch)
        assert got.shape == (rows, 16)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert model.describe()["onnx_sha256"] == sha256_file(path)


def test_cache_is_reused_and_keyed_by_source_weights(tmp_path: Path) -> None:
    calls: list[int] = []

    def build() -> tuple[Any, dict[str, np.ndarray]]:
        calls.append(1)
        return tiny_bert()

    first = cached_onnx("tiny", "a" * 64, build, cache=tmp_path)
    stamp = first.stat().st_mtime_ns
    again = cached_onnx("tiny", "a" * 64, build, cache=tmp_path)
    assert again == first
    assert first.stat().st_mtime_ns == stamp
    assert len(calls) == 1
    other = cached_onnx("tiny", "b" * 64, build, cache=tmp_path)
    assert other != first
    assert len(calls) == 2
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_int8_is_a_separate_smaller_cached_file(tmp_path: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    from datahygiene.stages.toxicity.modules import MeanPooled

    def build() -> tuple[Any, dict[str, np.ndarray]]:
        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=64, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256
        )
        return MeanPooled(BertModel(config, add_pooling_layer=False)).eval(), random_batch(2, 4, 0)

    fp32 = cached_onnx("tiny64", "c" * 64, build, cache=tmp_path)
    int8 = cached_onnx("tiny64", "c" * 64, build, int8=True, cache=tmp_path)
    assert int8.parent == fp32.parent
    assert int8 != fp32
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size
    batch = random_batch(6, 12, seed=3)
    full, quantized = OnnxModel(fp32, "onnx")(batch), OnnxModel(int8, "onnx-int8")(batch)
    assert quantized.shape == full.shape
    cosine = (full * quantized).sum(axis=1)  # both unit vectors
    assert cosine.min() > 0.9
    assert not np.array_equal(full, quantized)


def test_runtime_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_runtime("auto", "cpu") == "onnx"
    assert resolve_runtime("auto", "cuda") == "torch"  # GPUs run torch
    assert resolve_runtime("onnx-int8", "cpu") == "onnx-int8"
    assert resolve_runtime("torch", "cpu") == "torch"
    monkeypatch.setattr(runtime, "find_spec", lambda name: None)  # onnxruntime not installed
    assert resolve_runtime("auto", "cpu") == "torch"
    with pytest.raises(RuntimeUnavailableError, match="needs onnxruntime"):
        resolve_runtime("onnx", "cpu")


def test_cache_root_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path / "c"))
    assert runtime.cache_root() == tmp_path / "c"
    monkeypatch.delenv(runtime.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.cache_root() == tmp_path / "xdg" / "datahygiene"


def detoxify_scores(models_dir: Path, **params: Any) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    stage = DetoxifyStage(
        DetoxifyParams(batch_size=2, **params), StageContext(models_dir=models_dir, offline=True, device="cpu")
    )
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": TEXTS})))
    return {name: column.to_pylist() for name, column in out.items()}, stage.describe()


@pytest.mark.slow
def test_detoxify_onnx_agrees_with_torch(models_dir: Path) -> None:
    torch_out, torch_info = detoxify_scores(models_dir, runtime="torch")
    onnx_out, onnx_info = detoxify_scores(models_dir)  # auto on CPU
    assert torch_info["runtime"] == "torch"
    assert onnx_info["runtime"] == "onnx"
    assert onnx_info["onnx_sha256"] == sha256_file(Path(onnx_info["onnx_file"]))
    assert onnx_out.keys() == torch_out.keys()
    for name, values in torch_out.items():
        assert [v is None for v in onnx_out[name]] == [v is None for v in values]
        got = np.array([v for v in onnx_out[name] if v is not None])
        np.testing.assert_allclose(got, [v for v in values if v is not None], atol=1e-5)
    int8_out, int8_info = detoxify_scores(models_dir, runtime="onnx-int8")
    assert int8_info["runtime"] == "onnx-int8"
    assert int8_info["onnx_sha256"] != onnx_info["onnx_sha256"]
    assert [v is None for v in int8_out["toxicity"]] == [v is None for v in torch_out["toxicity"]]


def test_detoxify_without_onnxruntime_runs_torch(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "find_spec", lambda name: None)
    _, info = detoxify_scores(models_dir)
    assert info["runtime"] == "torch"
    with pytest.raises(ValueError, match="bf16 runs on torch only"):
        detoxify_scores(models_dir, runtime="onnx", precision="bf16")


def hatecheck_sample(count: int) -> list[str]:
    """Every n-th HateCheck case: real text from many functionalities."""
    folder = eval_data_dir()
    assert folder is not None, "../shared/eval-data is missing"
    with (folder / "hatecheck" / "test_suite_cases.csv").open(encoding="utf-8", newline="") as handle:
        cases = [row["test_case"] for row in csv.DictReader(handle)]
    return cases[:: max(1, len(cases) // count)][:count]


@pytest.mark.slow
def test_minilm_onnx_scores_agree_with_torch_on_real_text() -> None:
    texts = [*SENTENCES, *hatecheck_sample(120)]
    batch = Batch(records=pa.RecordBatch.from_pydict({"text": texts}))
    outputs = {}
    for name in ("torch", "onnx"):
        stage = EmbeddingToxicityStage(EmbeddingParams(runtime=name), StageContext(offline=True, device="cpu"))
        assert stage.describe()["runtime"] == name
        scores = stage.process(batch)
        outputs[name] = (np.array(scores["toxicity"].to_pylist()), batch.artifacts["minilm_text_embeddings"].copy())
    (tox_torch, emb_torch), (tox_onnx, emb_onnx) = outputs["torch"], outputs["onnx"]
    assert np.abs(tox_onnx - tox_torch).max() < 1e-4
    assert ((tox_onnx > 0.8) == (tox_torch > 0.8)).all()
    assert (emb_onnx * emb_torch).sum(axis=1).min() > 0.99999
