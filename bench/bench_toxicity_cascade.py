"""How often the cascade's decision differs from scoring every window and sentence with the transformer.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/bench_toxicity_cascade.py [--docs 200] [--inject 0.25]

Corpus: text this project did not write, found on the machine: Debian package documentation under
``/usr/share/doc`` (plain and gzipped) and the licence / README / METADATA files of installed Python packages;
files of 2-300 KB, decoded as UTF-8, markup and code skipped, distinct texts, cut to ``--max-chars``. A fraction
``--inject`` of the documents gets one hateful sentence (a HateCheck hateful case, the dev set, never trained on)
inserted at a random sentence boundary past the first window, so the measurement has positives deep in long text.

Reported: rows whose decision (``toxicity > --threshold``) differs between the cascade and the exhaustive reference;
recall of the injected documents by each; transformer pieces per document; wall time of the cascade against one
MiniLM pass over each document's first window (``max_length`` 256 tokens) -- same process, same encoder, interleaved.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from datahygiene.stages.toxicity.embedding import EmbeddingParams, MiniLMEncoder, packaged_encoder_dir
from datahygiene.stages.toxicity.scoring import Scorer

SKIP = (".html", ".htm", ".js", ".css", ".json", ".xml", ".svg", ".py", ".c", ".h", ".sh", ".png", ".jpg")


def corpus(limit: int, max_chars: int, seed: int) -> list[str]:
    """Distinct text documents from /usr/share/doc and site-packages metadata, shuffled with ``seed``."""
    import site

    found: dict[str, None] = {}
    roots = [Path("/usr/share/doc"), *(Path(p) for p in site.getsitepackages())]
    for root in roots:
        for path in sorted(root.rglob("*")):
            name = path.name.lower()
            if not path.is_file() or path.is_symlink() or name.endswith(SKIP):
                continue
            if "site-packages" in str(root) and not (
                ".dist-info" in path.parent.name and (name.startswith(("license", "readme")) or name == "metadata")
            ):
                continue
            try:
                raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
                text = raw.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if 2000 <= len(raw) <= 300_000 and "\x00" not in text[:4000]:
                found[text[:max_chars]] = None
    texts = list(found)
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def hateful_cases(shared: Path) -> list[str]:
    """HateCheck's hateful cases (dev set)."""
    with (shared / "eval-data" / "hatecheck" / "test_suite_cases.csv").open(encoding="utf-8") as handle:
        return [row["test_case"].strip() for row in csv.DictReader(handle) if row["label_gold"] == "hateful"]


def inject(docs: list[str], fraction: float, cases: list[str], skip_chars: int, seed: int) -> list[bool]:
    """Insert one case after a line break or full stop past ``skip_chars`` in ``fraction`` of the docs (in place)."""
    rng = random.Random(seed)
    marks = []
    for i, doc in enumerate(docs):
        cuts = [j + 1 for j, ch in enumerate(doc) if ch in "\n." and j > skip_chars]
        chosen = bool(cuts) and rng.random() < fraction
        if chosen:
            at = rng.choice(cuts)
            docs[i] = f"{doc[:at]} {rng.choice(cases)}\n{doc[at:]}"
        marks.append(chosen)
    return marks


class CachedEncoder:
    """Wraps an encoder and remembers every text it embedded (the reference reuses the cascade's work)."""

    def __init__(self, inner: MiniLMEncoder) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings, encoding only texts not seen before."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing, batch_size), strict=True):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)


def pieces_per_doc(columns: dict[str, Any]) -> float:
    """Mean transformer pieces per row, read from the evidence."""
    counts = [
        int(ev[1].split("transformer pieces: ")[1].split(";")[0]) for ev in columns["toxicity_evidence"].to_pylist()
    ]
    return float(np.mean(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--max-chars", type=int, default=20_000)
    parser.add_argument("--inject", type=float, default=0.25)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    docs = corpus(args.docs, args.max_chars, args.seed)
    marks = np.asarray(inject(docs, args.inject, hateful_cases(args.shared), 1000, args.seed))
    encoder = MiniLMEncoder(packaged_encoder_dir())
    cached = CachedEncoder(encoder)
    cascade = Scorer(EmbeddingParams(), cached)
    reference = Scorer(EmbeddingParams(exhaustive=True), cached)
    first_window = [d[:2000] for d in docs]
    encoder.encode(first_window[:8])  # warm-up
    start = time.perf_counter()
    encoder.encode(first_window)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    mine, _ = cascade.score(list(docs), 64)  # the cache starts empty: every piece is encoded here
    timed = time.perf_counter() - start
    full, _ = reference.score(list(docs), 64)
    a = np.asarray(mine["toxicity"].to_pylist()) > args.threshold
    b = np.asarray(full["toxicity"].to_pylist()) > args.threshold
    report = {
        "docs": len(docs),
        "chars": sum(map(len, docs)),
        "injected": int(marks.sum()),
        "threshold": args.threshold,
        "decisions_differ": int((a != b).sum()),
        "decisions_differ_rate": round(float((a != b).mean()), 4),
        "recall_injected_cascade": round(float(a[marks].mean()), 4) if marks.any() else None,
        "recall_injected_reference": round(float(b[marks].mean()), 4) if marks.any() else None,
        "flagged_clean_docs_cascade": int(a[~marks].sum()),
        "flagged_clean_docs_reference": int(b[~marks].sum()),
        "pieces_per_doc_cascade": round(pieces_per_doc(mine), 2),
        "pieces_per_doc_reference": round(pieces_per_doc(full), 2),
        "seconds_first_window_pass": round(plain, 2),
        "seconds_cascade": round(timed, 2),
        "cascade_over_first_window": round(timed / plain, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
