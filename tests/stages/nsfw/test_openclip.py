"""``nsfw.openclip`` on a tiny random-weight OpenCLIP model loaded through the real path, and its NudeNet fallback."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from datahygiene.core.config import load_config
from datahygiene.core.stage import Batch, StageContext
from datahygiene.engine.run import run
from datahygiene.stages.nsfw.openclip import OpenClipParams, OpenClipStage, resolve_openclip
from tests.helpers import read_route
from tests.stages.dedup.helpers import column, image_batch, jpeg, make_stage, scene

MODEL = "dh-tiny-clip"
TAG = "random"
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir with ``openclip/<tiny>/random/open_clip_pytorch_model.bin`` and two head files."""
    import open_clip
    import torch

    root = tmp_path_factory.mktemp("clip-models")
    config = root / f"{MODEL}.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(MODEL)
    folder = root / "openclip" / MODEL / TAG
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    rng = np.random.default_rng(0)
    np.savez(
        root / "head.npz",
        w0=rng.normal(size=(32, 8)).astype(np.float32),
        b0=np.zeros(8, np.float32),
        w1=rng.normal(size=(8, 1)).astype(np.float32),
        b1=np.array([0.1], np.float32),
        mean=np.zeros(32, np.float32),
        var=np.full(32, 0.01, np.float32),
    )
    head = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    torch.save(head.state_dict(), root / "head.pt")
    return root


def _stage(models: Path, **params: object) -> OpenClipStage:
    p = OpenClipParams.model_validate({"model": MODEL, "pretrained": TAG, **params})
    return OpenClipStage(p, StageContext(models_dir=models, offline=True))


def _blobs() -> list[bytes | None]:
    a = jpeg(scene(1))
    reencoded = jpeg(Image.open(io.BytesIO(a)).convert("RGB"), quality=40)
    return [a, a, reencoded, jpeg(scene(2)), None]


def test_zero_shot_scores_embeddings_and_manifest(clip_dir: Path) -> None:
    import open_clip
    import torch

    stage = _stage(clip_dir)
    assert [f.name for f in stage.output_schema()] == ["nsfw", "watermark"]
    batch = image_batch(list("abcde"), _blobs())
    out = stage.process(batch)
    nsfw, mark = column(out, "nsfw"), column(out, "watermark")
    assert nsfw[4] is None
    assert mark[4] is None
    assert all(0.0 <= v <= 1.0 for v in nsfw[:4] + mark[:4])
    emb = batch.artifacts["clip_image_embeddings"]
    assert emb.shape == (5, 32)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb[:4], axis=1), 1.0, atol=1e-5)
    assert not emb[4].any()
    # the same embeddings as open_clip's own loader and preprocessing on the same file
    weights = clip_dir / "openclip" / MODEL / TAG / "open_clip_pytorch_model.bin"
    ref, _, preprocess = open_clip.create_model_and_transforms(MODEL, pretrained=str(weights))
    images = [im for im in batch.images or [] if im is not None]
    with torch.no_grad():
        expected = ref.eval().encode_image(torch.stack([preprocess(im) for im in images]), normalize=True).numpy()
    np.testing.assert_allclose(emb[:4], expected, atol=1e-5)
    described = stage.describe()
    assert described["weights"] == str(weights)
    assert len(described["sha256"]) == 64
    assert described["pretrained"] == TAG
    assert described["nsfw_prompts"] == OpenClipParams().nsfw_prompts
    assert "head" not in described


def test_head_files_and_zero_shot_differ_but_are_probabilities(clip_dir: Path) -> None:
    import torch

    batch = image_batch(list("abcde"), _blobs())
    zero = column(_stage(clip_dir, watermark=False).process(batch), "nsfw")
    emb = batch.artifacts["clip_image_embeddings"][:4]
    npz_stage = _stage(clip_dir, head="head.npz", watermark=False)  # relative: found in the models dir
    assert [f.name for f in npz_stage.output_schema()] == ["nsfw"]
    npz = column(npz_stage.process(batch), "nsfw")
    pt = column(_stage(clip_dir, head=clip_dir / "head.pt").process(batch), "nsfw")
    for scores in (zero, npz, pt):
        assert scores[4] is None
        assert all(0.0 <= s <= 1.0 for s in scores[:4])
    assert not np.allclose(zero[:4], npz[:4], atol=1e-3)
    assert not np.allclose(zero[:4], pt[:4], atol=1e-3)
    with np.load(clip_dir / "head.npz") as h:
        hidden = np.maximum((emb / np.sqrt(h["var"] + 1e-7)) @ h["w0"] + h["b0"], 0)
        np.testing.assert_allclose(npz[:4], 1 / (1 + np.exp(-(hidden @ h["w1"] + h["b1"])[:, 0])), rtol=1e-4)
    state = torch.load(clip_dir / "head.pt", weights_only=True)
    head = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    head.load_state_dict(state)
    with torch.no_grad():
        expected = torch.softmax(head(torch.from_numpy(emb)), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(pt[:4], expected, atol=1e-5)
    assert npz_stage.describe()["head"]["file"] == str(clip_dir / "head.npz")
    assert len(npz_stage.describe()["head"]["sha256"]) == 64


def test_head_file_that_is_not_linear_layers_is_refused(clip_dir: Path, tmp_path: Path) -> None:
    import torch

    head = torch.nn.Sequential(torch.nn.Linear(32, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    torch.save(head.state_dict(), tmp_path / "bn.pt")
    with pytest.raises(ValueError, match="not a Linear layer"):
        _stage(clip_dir, head=tmp_path / "bn.pt")
    np.savez(tmp_path / "wide.npz", w0=np.zeros((64, 1), np.float32), b0=np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="takes 64-d input"):
        _stage(clip_dir, head=tmp_path / "wide.npz")


def test_embeddings_are_reused_by_semantic_dedup(clip_dir: Path) -> None:
    stage = _stage(clip_dir)
    batch = image_batch(list("abcde"), _blobs())
    stage.process(batch)
    # default dedup: the byte copy is exact, the re-encoded copy a pHash near duplicate; the random tiny model maps
    # scene 2 close to scene 1 (cosine ~0.997 > the default 0.95), so it is a semantic match -- a real model is not
    kinds = column(make_stage().process(batch), "dup_kind")
    assert kinds == [None, "exact", "near", "semantic", None]
    # with exact and pHash off, both copies are found through the OpenCLIP embeddings alone; a strict threshold
    # separates the copies (cosine > 0.9999) from scene 2
    semantic_only = make_stage(
        exact={"image_bytes": False, "image_pixels": False, "text": False},
        near_image={"enabled": False},
        semantic={"threshold": 0.9999},
    )
    out = semantic_only.process(batch)
    assert column(out, "dup_kind") == [None, "semantic", "semantic", None, None]
    assert column(out, "dup_of") == [None, "a", "a", None, None]
    assert column(out, "dup_similarity")[1] > 0.9999


def test_bf16_embeddings_stay_close_to_fp32(clip_dir: Path) -> None:
    fp32, bf16 = image_batch(list("ab"), _blobs()[:2]), image_batch(list("ab"), _blobs()[:2])
    _stage(clip_dir).process(fp32)
    stage = _stage(clip_dir, precision="bf16")
    stage.process(bf16)
    a, b = fp32.artifacts["clip_image_embeddings"], bf16.artifacts["clip_image_embeddings"]
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert ((a * b).sum(axis=1) > 0.99).all()
    assert stage.describe()["precision"] == "bf16"


def test_rows_without_images_and_text_only_batches(clip_dir: Path) -> None:
    stage = _stage(clip_dir)
    batch = Batch(records=pa.RecordBatch.from_pydict({"id": ["x", "y"], "text": ["hi", "there"]}))
    out = stage.process(batch)
    assert column(out, "nsfw") == [None, None]
    assert batch.artifacts["clip_image_embeddings"].shape == (2, 32)


def test_offline_without_weights_falls_back_to_nudenet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "images"
    data.mkdir()
    scene(3).save(data / "one.png")
    scene(4).save(data / "two.jpg")
    (data / "broken.jpg").write_bytes(b"not an image")
    config = load_config(
        Path(__file__).resolve().parents[3] / "configs" / "minimal.yaml",
        [
            "stages=[{name: nsfw.openclip, params: {pretrained: no-such-tag}}]",
            f"models.dir={tmp_path / 'empty'}",
            "models.offline=true",
        ],
    )
    with caplog.at_level(logging.INFO):
        result = run(config, [str(data)], tmp_path / "out", write_documents=False)
    assert result.exit_code == 0
    assert "using fallback nsfw.nudenet" in caplog.text
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    entry = next(m for m in manifest["models"] if m["stage"] == "nsfw.openclip")
    assert entry["columns"] == ["nsfw", "nsfw_labels"]
    assert entry["missing"] == "OpenCLIP ViT-B-32/no-such-tag"
    assert entry["fallback"]["model"] == "nudenet-320n"
    assert entry["fallback"]["weights"].endswith("320n.onnx")
    assert len(entry["fallback"]["sha256"]) == 64
    assert entry["fallback"]["model_version"]
    kept = read_route(tmp_path / "out", "kept")
    assert kept is not None
    assert kept.num_rows == 2
    assert all(0.0 <= s < 0.5 for s in kept["nsfw"].to_pylist())


def test_weights_resolve_from_models_dir_before_the_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    cached = repo / "snapshots" / "abc123" / "open_clip_model.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    offline = StageContext(models_dir=tmp_path / "models", offline=True)
    assert resolve_openclip(OpenClipParams(), offline) == cached
    local = tmp_path / "models" / "openclip" / "ViT-B-32" / "laion2b_s34b_b79k" / "open_clip_pytorch_model.bin"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"weights")
    assert resolve_openclip(OpenClipParams(), offline) == local
    assert resolve_openclip(OpenClipParams(pretrained="datacomp_xl_s13b_b90k"), offline) is None


def test_no_fallback_raises(tmp_path: Path) -> None:
    params = OpenClipParams(pretrained="no-such-tag", fallback=None)
    with pytest.raises(FileNotFoundError, match="no fallback"):
        OpenClipStage(params, StageContext(models_dir=tmp_path, offline=True))
