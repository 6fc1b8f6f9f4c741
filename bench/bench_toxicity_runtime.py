"""MiniLM on torch vs ONNX Runtime fp32 vs ONNX Runtime int8: score agreement and speed, on real text.

Texts: the HateCheck cases and sentences / document openings from the long-document corpus of
``bench/toxicity_corpus.py`` (Debian docs, package licences). Agreement: the final ``toxicity`` of the
``toxicity.embedding`` stage (max over the shipped heads) against torch fp32: max and mean absolute difference, 99th
percentile, and decisions flipped at the default policy threshold 0.8. Speed: texts per wall second and per CPU
second of this process (the CPU figure is steadier on a shared machine), ``--threads`` intra-op threads for both
runtimes, interleaved repeats, medians.

    PYTHONPATH=src python bench/bench_toxicity_runtime.py [--threads 1] [--sentences 2000] [--speed-texts 200]
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench_toxicity_corpus import HATECHECK
from datahygiene.stages.toxicity.embedding import DEFAULT_HEADS, LinearHead, MiniLMEncoder, packaged_encoder_dir
from toxicity_corpus import build_documents

RUNTIMES = ("torch", "onnx", "onnx-int8")


def corpora(sentences: int, openings: int) -> dict[str, list[str]]:
    """HateCheck cases, document sentences (20-400 chars) and document openings (3,000 chars, cut at 256 tokens)."""
    with HATECHECK.open(encoding="utf-8", newline="") as handle:
        cases = [row["test_case"] for row in csv.DictReader(handle)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        build_documents(path, max_docs=100_000)
        docs = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    pieces = [" ".join(s.split()) for doc in docs for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", doc)]
    rng = random.Random(0)
    found = [s for s in pieces if 20 <= len(s) <= 400]
    rng.shuffle(found)
    rng.shuffle(docs)
    return {"hatecheck": cases, "doc sentences": found[:sentences], "doc openings": [d[:3000] for d in docs[:openings]]}


def toxicity(encoder: MiniLMEncoder, heads: list[LinearHead], texts: list[str]) -> np.ndarray:
    """The stage's score of whole texts: max over the heads."""
    embeddings = encoder.encode(texts)
    return np.asarray(np.max([head.predict(embeddings) for head in heads], axis=0))


def agreement(reference: np.ndarray, scores: np.ndarray) -> str:
    """Max / mean / p99 absolute difference and flips at 0.8, as one line."""
    diff = np.abs(scores.astype(np.float64) - reference)
    flips = int(((scores > 0.8) != (reference > 0.8)).sum())
    return (
        f"max |d| {diff.max():.2e}  mean {diff.mean():.2e}  p99 {np.quantile(diff, 0.99):.2e}  "
        f"flips@0.8 {flips}/{len(diff)} ({flips / len(diff):.2%})"
    )


def speed(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds per contender (one warm-up each, interleaved repeats)."""
    for fn in contenders.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in contenders}


def main() -> None:
    """Agreement on every corpus, then speed on a slice of each."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--openings", type=int, default=400)
    parser.add_argument("--speed-texts", type=int, default=200, help="texts per corpus in the speed test")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    heads = [LinearHead.load(path) for path in DEFAULT_HEADS]
    folder = packaged_encoder_dir()
    encoders = {name: MiniLMEncoder(folder, runtime=name, threads=args.threads) for name in RUNTIMES}  # type: ignore[arg-type]
    for name, encoder in encoders.items():
        print(f"{name}: {encoder.describe_runtime()}")
    texts = corpora(args.sentences, args.openings)
    for corpus, items in texts.items():
        reference = toxicity(encoders["torch"], heads, items).astype(np.float64)
        print(f"{corpus} ({len(items)} texts, {int((reference > 0.8).sum())} over 0.8 on torch):")
        for name in RUNTIMES[1:]:
            print(f"  {name:9s} vs torch: {agreement(reference, toxicity(encoders[name], heads, items))}")
    for corpus, items in texts.items():
        sample = items[:: max(1, len(items) // args.speed_texts)][: args.speed_texts]
        contenders: dict[str, Callable[[], object]] = {
            name: functools.partial(encoder.encode, sample) for name, encoder in encoders.items()
        }
        medians = speed(contenders, args.repeats)
        base_cpu = medians["torch"][1]
        line = "  ".join(
            f"{name} {len(sample) / w:.0f}/s wall, {len(sample) / c:.0f}/cpu-s ({base_cpu / c:.2f}x)"
            for name, (w, c) in medians.items()
        )
        print(f"speed, {corpus}, {len(sample)} texts, {args.threads} thread(s): {line}")


if __name__ == "__main__":
    main()
