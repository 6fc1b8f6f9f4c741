"""Near-duplicate text: quality against brute-force exact Jaccard, and speed against peers, in one run.

Corpus: real text you did not write, read from the paths given (directories are walked for files named
``copyright``, ``LICENSE*``, ``COPYING*``, ``METADATA``). On Debian/Ubuntu ``/usr/share/doc`` holds one
``copyright`` file per installed package; a virtualenv's ``site-packages`` holds ``*.dist-info`` files.

    PYTHONPATH=src python bench/bench_dedup_text.py /usr/share/doc /work/main/.venv/lib/python3.11/site-packages
    PYTHONPATH=src python bench/bench_dedup_text.py /usr/share/doc --scale 1000000   # single-machine 1M rows

Peers (bench-only): ``datasketch``, ``rensa`` (with the usual Python shingling), ``datatrove``.
"""

from __future__ import annotations

import argparse
import functools
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import sparse

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.dedup.dedup_stage import DedupStage
from datahygiene.stages.dedup.normalize import near_normal_form
from datahygiene.stages.dedup.params import DedupParams

NAMES = re.compile(r"^(copyright|LICEN[CS]E.*|COPYING.*|METADATA)$")


def load_corpus(paths: list[Path]) -> list[str]:
    """All matching files under ``paths`` (sorted, so the input order is reproducible)."""
    files: list[Path] = []
    for root in paths:
        files += [p for p in root.rglob("*") if p.is_file() and NAMES.match(p.name)] if root.is_dir() else [root]
    docs = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(files)]
    return [d for d in docs if len(d.split()) >= 5]


def shingle_sets(docs: list[str], ngram: int) -> list[set[str]]:
    """Word n-gram sets on the same normal form the stage uses (for ground truth and peers)."""
    words = [(t or "").split() for t in near_normal_form(pa.array(docs)).to_pylist()]
    return [{" ".join(w[i : i + ngram]) for i in range(max(1, len(w) - ngram + 1))} for w in words]


def jaccard_matrix(sets: list[set[str]]) -> Any:
    """Exact pairwise Jaccard (dense, upper triangle), by sparse matrix products: brute force over all pairs."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for g in s:
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(sets), len(vocab)))
    inter = (x @ x.T).toarray()
    size = np.asarray(x.sum(axis=1)).ravel()
    union = size[:, None] + size[None, :] - inter
    return np.triu(inter / np.maximum(union, 1), k=1)


def run_ours(docs: list[str], threshold: float, ngram: int, batch_rows: int = 8192) -> tuple[list[Any], DedupStage]:
    """The ``dedup`` stage end to end (exact + MinHash text), as the runner calls it."""
    params = DedupParams.model_validate(
        {"near_text": {"threshold": threshold, "ngram": ngram}, "near_image": {"enabled": False}}
    )
    stage = DedupStage(params, StageContext())
    dup_of: list[Any] = []
    for start in range(0, len(docs), batch_rows):
        chunk = docs[start : start + batch_rows]
        ids = pa.array([str(i) for i in range(start, start + len(chunk))])
        out = stage.process(Batch(records=pa.record_batch({"id": ids, "text": pa.array(chunk)})))
        dup_of += out["dup_of"].to_pylist()
    return dup_of, stage


def run_rensa(docs: list[str], threshold: float, ngram: int) -> list[bool]:
    """rensa with per-document Python shingling (the common way to use it)."""
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=threshold, num_perm=128, num_bands=16)
    flags = []
    for i, text in enumerate(docs):
        words = text.lower().split()
        grams = [" ".join(words[k : k + ngram]) for k in range(max(1, len(words) - ngram + 1))]
        m = RMinHash(num_perm=128, seed=1)
        m.update(grams)
        flags.append(bool(lsh.query(m)))
        lsh.insert(i, m)
    return flags


def run_datasketch(docs: list[str], threshold: float, ngram: int) -> list[bool]:
    """datasketch MinHash + MinHashLSH with per-document Python shingling."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    flags = []
    for i, text in enumerate(docs):
        words = text.lower().split()
        grams = [" ".join(words[k : k + ngram]).encode() for k in range(max(1, len(words) - ngram + 1))]
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(grams)
        flags.append(bool(lsh.query(m)))
        lsh.insert(str(i), m)
    return flags


def run_datatrove(docs: list[str], threshold: float, ngram: int) -> list[bool]:
    """datatrove's four-stage MinHash pipeline (signatures, buckets, clusters, filter) run locally."""
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    # sha1: datatrove 0.10 passes str to xxhash, which xxhash >= 4 refuses (the env has xxhash 4.1)
    config = MinhashConfig(n_grams=ngram, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(hash_fc="sha1"))
    documents = [Document(text=t, id=str(i)) for i, t in enumerate(docs)]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        stages: list[list[Any]] = [
            [MinhashDedupSignature(output_folder=str(base / "sigs"), config=config)],
            [MinhashDedupBuckets(input_folder=str(base / "sigs"), output_folder=str(base / "b"), config=config)],
            [MinhashDedupCluster(input_folder=str(base / "b"), output_folder=str(base / "c"), config=config)],
            [
                MinhashDedupFilter(input_folder=str(base / "c"), exclusion_writer=JsonlWriter(str(base / "x"))),
                JsonlWriter(str(base / "kept")),
            ],
        ]
        for k, pipeline in enumerate(stages):
            pipe = ([documents] if k in (0, 3) else []) + pipeline
            tasks = config.num_buckets if k == 1 else 1
            LocalPipelineExecutor(pipeline=pipe, tasks=tasks, logging_dir=str(base / f"log{k}")).run()
        import gzip
        import json

        removed = set()
        for f in (base / "x").glob("*.jsonl.gz"):
            with gzip.open(f, "rt") as fh:
                removed |= {json.loads(line)["id"] for line in fh}
    return [str(i) in removed for i in range(len(docs))]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def quality(flags: list[bool], truth: Any, threshold: float) -> tuple[float, float]:
    """Per-document precision and recall: a document is a true duplicate if an earlier one has J >= threshold."""
    is_dup = (truth >= threshold).any(axis=0)
    pred = np.array(flags)
    tp = int((pred & is_dup).sum())
    return tp / max(1, int(pred.sum())), tp / max(1, int(is_dup.sum()))


def planted_rows(docs: list[str], rows: int) -> tuple[list[str], list[int]]:
    """``rows`` rows of 50 real words drawn at random, 10% of them planted copies of an earlier row (and which)."""
    rng = np.random.default_rng(0)
    words = " ".join(docs).split()
    picks = rng.integers(0, len(words), size=(rows, 50)).tolist()
    texts = [" ".join(words[i] for i in row) for row in picks]
    planted = np.sort(rng.choice(np.arange(1000, rows), size=rows // 10, replace=False))
    for n, k in enumerate(planted.tolist()):
        source = texts[int(rng.integers(0, k - 1))]
        texts[k] = source if n % 2 else source + " appendix"  # exact copy, or J ~0.98 on 5-grams
    return texts, planted.tolist()


def scale(docs: list[str], rows: int, threshold: float, ngram: int) -> None:
    """Single-machine path at ``rows`` rows of 50 real words drawn at random, with 10% planted copies."""
    texts, planted = planted_rows(docs, rows)
    t0 = time.perf_counter()
    dup_of, stage = run_ours(texts, threshold, ngram)
    took = time.perf_counter() - t0
    sizes = stage.state.nbytes()
    reps = len(stage.state.ids)
    found = sum(dup_of[k] is not None for k in planted)
    dups = sum(d is not None for d in dup_of)
    print(f"scale: {rows:,} rows in {took:.1f} s ({rows / took:,.0f} rows/s); {dups:,} marked, planted found {found:,}")
    print(f"scale: index {sum(sizes.values()) / reps:.0f} bytes per representative ({reps:,}): {sizes}")
    print(f"scale: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", default="rensa,datasketch,datatrove")
    parser.add_argument("--scale", type=int, default=0, help="also run the single-machine path at this many rows")
    args = parser.parse_args()
    docs = load_corpus(args.paths)
    nwords = sum(len(d.split()) for d in docs)
    print(f"corpus: {len(docs):,} documents, {nwords:,} words")
    t0 = time.perf_counter()
    truth = jaccard_matrix(shingle_sets(docs, args.ngram))
    pairs = len(docs) * (len(docs) - 1) // 2
    print(f"truth: brute-force exact Jaccard over {pairs:,} pairs in {time.perf_counter() - t0:.1f} s")
    n_true = int((truth >= args.threshold).any(axis=0).sum())
    print(f"truth: {n_true} documents have an earlier one with J >= {args.threshold}")

    took, (dup_of, _stage) = timed(lambda: run_ours(docs, args.threshold, args.ngram), args.repeats)
    flags = [d is not None for d in dup_of]
    p, r = quality(flags, truth, args.threshold)
    merged = [truth[int(d), i] if int(d) < i else truth[i, int(d)] for i, d in enumerate(dup_of) if d is not None]
    low = sum(j < 0.5 for j in merged)
    print(f"datahygiene dedup: {took:.3f} s  precision {p:.4f} recall {r:.4f}", end="  ")
    print(f"min J of merged pair {min(merged, default=1):.3f}  pairs below J 0.5: {low}")
    results = {"datahygiene": took}
    peers = {"rensa": run_rensa, "datasketch": run_datasketch, "datatrove": run_datatrove}
    for name in [n for n in args.peers.split(",") if n]:
        try:
            reps = 1 if name == "datatrove" else args.repeats
            took, peer_flags = timed(functools.partial(peers[name], docs, args.threshold, args.ngram), reps)
        except ImportError as exc:
            print(f"{name}: not installed ({exc})")
            continue
        p, r = quality(peer_flags, truth, args.threshold)
        results[name] = took
        print(f"{name}: {took:.3f} s  precision {p:.4f} recall {r:.4f}")
    for name, took in results.items():
        if name != "datahygiene":
            print(f"speed-up vs {name}: {took / results['datahygiene']:.1f}x")
    if args.scale:
        scale(docs, args.scale, args.threshold, args.ngram)


if __name__ == "__main__":
    main()
