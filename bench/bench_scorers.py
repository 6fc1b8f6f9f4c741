"""Speed: DetoxifyStage vs naive per-text Detoxify.predict vs Detoxify.predict on the same batches; NudeNet images/s.

Builds a bert-base-sized random-weight Detoxify checkpoint in a temp dir (same architecture and cost as the real one).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

WORDS = [f"w{i}" for i in range(2000)]


def build_checkpoint(folder: Path) -> Path:
    """bert-base (12 layers, 768 hidden) random weights + word-level vocab, saved Detoxify-style."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    labels = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(vocab_size=30522)
    config.num_labels = len(labels)
    config.save_pretrained(folder)
    model = BertForSequenceClassification(config)
    arch = {
        "model_type": str(folder),
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": len(labels),
    }
    path = folder / "model.ckpt"
    torch.save(
        {
            "config": {"arch": {"args": arch}, "dataset": {"args": {"classes": labels}}},
            "state_dict": model.state_dict(),
        },
        path,
    )
    return path


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the comparisons and print medians and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--images", type=Path, default=Path("../shared/eval-data/near-dup-images"))
    args = parser.parse_args()
    n, repeats, batch = (64, 1, 32) if args.quick else (256, 3, 32)
    rng = random.Random(0)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(5, 120))) for _ in range(n)]

    from detoxify import Detoxify

    from datahygiene.scorers.toxicity import DetoxifyParams, DetoxifyStage
    from datahygiene.stage import Batch, StageContext

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "detoxify" / "original"
        folder.mkdir(parents=True)
        ckpt = build_checkpoint(folder)
        stage = DetoxifyStage(DetoxifyParams(batch_size=batch), StageContext(models_dir=Path(tmp), offline=True))
        ref = Detoxify(checkpoint=str(ckpt), huggingface_config_path=str(folder))
        records = pa.RecordBatch.from_pydict({"text": texts})
        ours = timed(lambda: stage.process(Batch(records=records)), repeats)
        batched = timed(lambda: [ref.predict(texts[i : i + batch]) for i in range(0, n, batch)], repeats)
        naive = timed(lambda: [ref.predict(t) for t in texts], repeats)
    print(f"detoxify bert-base, {n} texts, batch {batch}, medians of {repeats}:")
    print(f"  stage        {n / ours:8.1f} texts/s")
    print(f"  batched      {n / batched:8.1f} texts/s   stage/batched = {batched / ours:.2f}x")
    print(f"  naive loop   {n / naive:8.1f} texts/s   stage/naive   = {naive / ours:.2f}x")

    if args.images.is_dir():
        from datahygiene.scorers.nsfw import NudeNetParams, NudeNetStage

        images: list[Image.Image | None] = []
        for path in sorted(args.images.glob("*.jpg"))[: 16 if args.quick else 64]:
            try:
                images.append(Image.open(path).convert("RGB"))
            except OSError:  # the eval set holds deliberately corrupt files
                continue
        nude = NudeNetStage(NudeNetParams(), StageContext(offline=True))
        ids = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(images))]})
        secs = timed(lambda: nude.process(Batch(records=ids, images=images)), repeats)
        print(f"nudenet 320n: {len(images) / secs:.1f} images/s ({len(images)} images, {np.round(secs, 2)} s)")


if __name__ == "__main__":
    main()
