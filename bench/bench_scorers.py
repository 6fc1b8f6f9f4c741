"""Scorer speed, side by side in one run.

Detoxify (texts/s): (a) a naive loop of ``Detoxify.predict(text)``, (b) ``Detoxify.predict`` on the same texts in
unsorted batches, (c) our ``toxicity.detoxify`` stage (tokenize once, sort by token count, inference_mode), fp32 and
bf16 autocast -- on a tiny (2-layer, 32-wide) and a bert-base-sized (12-layer, 768-wide) random-weight checkpoint built
here, no download. Texts have long-tailed lengths (log-normal word counts, median ~25 words), like comments.

Images (images/s): ``nsfw.openclip`` with a ViT-B-32-sized random-weight OpenCLIP model (``open_clip.create_model
('ViT-B-32')``, no pretrained weights) saved and loaded through the stage's real path, and ``nsfw.nudenet``.

Repeats are interleaved (a, b, c, a, b, c, ...) and the medians reported, so load changes hit every contender alike.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/bench_scorers.py [--quick] [--images DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from datahygiene.core.stage import Batch, StageContext

WORDS = [f"w{i}" for i in range(2000)]
LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
SIZES = {"tiny": {"hidden": 32, "layers": 2, "heads": 2}, "bert-base": {"hidden": 768, "layers": 12, "heads": 12}}


def build_checkpoint(folder: Path, hidden: int, layers: int, heads: int) -> Path:
    """Random BERT weights + word-level vocab, saved as a Detoxify checkpoint with its HF config and tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=30522 if hidden >= 768 else len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
    )
    config.num_labels = len(LABELS)
    config.save_pretrained(folder)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    arch = {
        "model_type": str(folder),
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": len(LABELS),
    }
    path = folder / "model.ckpt"
    config_dict = {"arch": {"args": arch}, "dataset": {"args": {"classes": LABELS}}}
    torch.save({"config": config_dict, "state_dict": model.state_dict()}, path)
    return path


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per contender; one warm-up call each, then ``repeats`` rounds of one call each."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def comment_texts(n: int) -> list[str]:
    """``n`` texts with log-normal word counts (median 25, clipped to 3..400 words; one word is one token)."""
    rng = np.random.default_rng(0)
    counts = np.clip(rng.lognormal(np.log(25), 0.9, n).astype(int), 3, 400)
    return [" ".join(rng.choice(WORDS, size=int(k))) for k in counts]


def bench_detoxify(size: str, n: int, repeats: int, batch: int) -> None:
    """Texts/s of the naive loop, batched predict and our stage; ratios; largest score difference."""
    from detoxify import Detoxify

    from datahygiene.stages.toxicity.detoxify import DetoxifyParams, DetoxifyStage
    from datahygiene.stages.weights import pick_device

    texts = comment_texts(n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "detoxify" / "original"
        ckpt = build_checkpoint(folder, **SIZES[size])
        context = StageContext(models_dir=Path(tmp), offline=True)
        # max_length 512 = Detoxify's own truncation, so every contender computes the same scores
        ours = DetoxifyStage(DetoxifyParams(batch_size=batch, max_length=512), context)
        ours_bf16 = DetoxifyStage(DetoxifyParams(batch_size=batch, max_length=512, precision="bf16"), context)
        ref = Detoxify(checkpoint=str(ckpt), huggingface_config_path=str(folder), device=pick_device("auto"))
    records = pa.RecordBatch.from_pydict({"text": texts})
    medians = interleaved(
        {
            "naive loop": lambda: [ref.predict(t) for t in texts],
            "batched predict": lambda: [ref.predict(texts[i : i + batch]) for i in range(0, n, batch)],
            "stage fp32": lambda: ours.process(Batch(records=records)),
            "stage bf16": lambda: ours_bf16.process(Batch(records=records)),
        },
        repeats,
    )
    chunks = [np.atleast_1d(ref.predict(texts[i : i + batch])["insult"]) for i in range(0, n, batch)]
    insult = np.concatenate(chunks).astype(np.float32)
    fp32 = np.asarray(ours.process(Batch(records=records))["tox_insult"].to_pylist(), dtype=np.float32)
    bf16 = np.asarray(ours_bf16.process(Batch(records=records))["tox_insult"].to_pylist(), dtype=np.float32)
    print(f"detoxify {size}: {n} texts, batch {batch}, medians of {repeats} interleaved repeats")
    for name, secs in medians.items():
        print(f"  {name:16s} {n / secs:9.1f} texts/s")
    for name in ("stage fp32", "stage bf16"):
        print(
            f"  {name}: {medians['naive loop'] / medians[name]:.2f}x naive loop, "
            f"{medians['batched predict'] / medians[name]:.2f}x batched predict"
        )
    print(f"  max |score - Detoxify|: fp32 {np.abs(fp32 - insult).max():.1e}, bf16 {np.abs(bf16 - insult).max():.1e}")


def load_images(folder: Path, count: int) -> list[Image.Image | None]:
    """``count`` decoded photos from ``folder`` (cycled), or synthetic pictures when the folder is absent."""
    photos: list[Image.Image] = []
    for path in sorted(folder.glob("*.jpg")) if folder.is_dir() else []:
        try:
            photos.append(Image.open(path).convert("RGB"))
        except OSError:  # the eval set holds deliberately corrupt files
            continue
    if not photos:
        rng = np.random.default_rng(0)
        photos = [Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)) for _ in range(8)]
    return [photos[i % len(photos)] for i in range(count)]


def bench_images(images: list[Image.Image | None], repeats: int) -> None:
    """Images/s of nsfw.openclip (ViT-B-32-sized random weights) and nsfw.nudenet on the same pictures."""
    import open_clip
    import torch

    from datahygiene.stages.nsfw.nudenet import NudeNetParams, NudeNetStage
    from datahygiene.stages.nsfw.openclip import OpenClipParams, OpenClipStage

    records = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(images))]})
    contenders: dict[str, Callable[[], Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "openclip" / "ViT-B-32" / "random"
        folder.mkdir(parents=True)
        torch.manual_seed(0)
        torch.save(open_clip.create_model("ViT-B-32").state_dict(), folder / "open_clip_pytorch_model.bin")
        clip = OpenClipStage(
            OpenClipParams(model="ViT-B-32", pretrained="random"), StageContext(models_dir=Path(tmp), offline=True)
        )
        clip_bf16 = OpenClipStage(
            OpenClipParams(model="ViT-B-32", pretrained="random", precision="bf16"),
            StageContext(models_dir=Path(tmp), offline=True),
        )
    contenders["nsfw.openclip ViT-B-32"] = lambda: clip.process(Batch(records=records, images=images))
    contenders["nsfw.openclip ViT-B-32 bf16"] = lambda: clip_bf16.process(Batch(records=records, images=images))
    nude = NudeNetStage(NudeNetParams(), StageContext(offline=True))
    contenders["nsfw.nudenet 320n"] = lambda: nude.process(Batch(records=records, images=images))
    medians = interleaved(contenders, repeats)
    print(f"images: {len(images)} photos, medians of {repeats} interleaved repeats")
    for name, secs in medians.items():
        print(f"  {name:29s} {len(images) / secs:8.1f} images/s")


def main() -> None:
    """Run every comparison and print medians and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer texts, images and repeats")
    parser.add_argument("--images", type=Path, default=Path("../shared/eval-data/near-dup-images"))
    parser.add_argument("--skip", nargs="*", default=[], choices=["tiny", "bert-base", "images"])
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {device}")
    n, repeats = (64, 3) if args.quick else (256, 5)
    for size in ("tiny", "bert-base"):
        if size not in args.skip:
            bench_detoxify(size, n, repeats, batch=32)
    if "images" not in args.skip:
        bench_images(load_images(args.images, 32 if args.quick else 128), repeats)


if __name__ == "__main__":
    main()
