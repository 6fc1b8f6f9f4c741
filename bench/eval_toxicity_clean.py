"""How many clean documents the default config rejects: Debian package docs cut into chunks of a few KB.

    HF_HUB_OFFLINE=1 PYTHONPATH=src:bench python bench/eval_toxicity_clean.py --split test --docs 150

Corpus: text files under ``/usr/share/doc`` (READMEs, changelogs, copyright files, NEWS, plain text; gzip ones
unpacked), written by the Debian and upstream maintainers, not for this project. Each file is cut
at blank lines into chunks of about ``--chunk-chars`` characters (chunks under 300 characters are dropped). Packages
are split by a hash of their name: a quarter ``train`` (the neutral hard negatives of bench/train_toxicity.py), a
quarter ``dev`` (tune here; ``--show`` prints each rejected chunk's evidence) and half ``test`` (measure only). At most
two chunks per package are drawn (seeded), so one large package cannot dominate.

Reported: the share the default policy's text rules reject (``toxicity > 0.8`` or ``blocklist_severity >= 2.5``),
each rule's share, and the mean number of transformer pieces per chunk.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.blocklist import BlocklistParams, BlocklistStage
from datahygiene.stages.toxicity.detoxify import DetoxifyParams, DetoxifyStage

DOC_ROOT = Path("/usr/share/doc")
_SKIP = (".html", ".htm", ".js", ".css", ".json", ".xml", ".svg", ".py", ".c", ".h", ".sh", ".png", ".jpg", ".pdf")
_BLANK = re.compile(r"\n\s*\n")


def split_of(package: str) -> str:
    """``train`` (a quarter: hard negatives for bench/train_toxicity.py), ``dev`` (a quarter) or ``test`` (half)."""
    bucket = hashlib.sha256(package.encode()).digest()[0] % 4
    return "train" if bucket == 0 else "dev" if bucket == 1 else "test"


def chunks_of(text: str, chunk_chars: int) -> list[str]:
    """Paragraphs packed into chunks of at most ``chunk_chars`` (a longer paragraph is cut at a space)."""
    out: list[str] = []
    current = ""
    for para in _BLANK.split(text):
        para = para.strip()
        while len(para) > chunk_chars:
            cut = para.rfind(" ", 0, chunk_chars)
            cut = cut if cut > 0 else chunk_chars
            out.append(para[:cut])
            para = para[cut:].strip()
        if current and len(current) + len(para) + 2 > chunk_chars:
            out.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        out.append(current)
    return [c for c in out if len(c) >= 300]


def package_texts(split: str) -> Iterator[tuple[str, Path, str]]:
    """``(package, path, text)`` of every readable text file of the packages in ``split``."""
    for package in sorted(p.name for p in DOC_ROOT.iterdir() if p.is_dir()):
        if split_of(package) != split:
            continue
        for path in sorted((DOC_ROOT / package).rglob("*")):
            name = path.name.lower()
            if not path.is_file() or path.is_symlink() or name.removesuffix(".gz").endswith(_SKIP):
                continue
            try:
                raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
                text = raw.decode("utf-8")
            except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile):
                continue
            if "\x00" not in text[:4000]:
                yield package, path, text


def clean_chunks(split: str, chunk_chars: int, limit: int, seed: int) -> list[tuple[str, str]]:
    """``(source, text)`` chunks of the packages in ``split``: at most two per package, ``limit`` in all."""
    per_package: dict[str, list[tuple[str, str]]] = {}
    for package, path, text in package_texts(split):
        for i, chunk in enumerate(chunks_of(text, chunk_chars)):
            per_package.setdefault(package, []).append((f"{path}#{i}", chunk))
    rng = random.Random(seed)
    drawn: list[tuple[str, str]] = []
    for package in sorted(per_package):
        found = per_package[package]
        drawn += rng.sample(found, min(2, len(found)))
    rng.shuffle(drawn)
    return drawn[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["train", "dev", "test"], default="test")
    parser.add_argument("--docs", type=int, default=150)
    parser.add_argument("--chunk-chars", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--show", action="store_true", help="print each rejected chunk's evidence (dev split only)")
    args = parser.parse_args()
    if args.show and args.split != "dev":
        parser.error("--show is for the dev split: look at test rejects only after tuning is over")
    drawn = clean_chunks(args.split, args.chunk_chars, args.docs, args.seed)
    texts = [text for _, text in drawn]
    context = StageContext(offline=True, device="cpu")
    records = pa.RecordBatch.from_pydict({"text": texts})
    columns = DetoxifyStage(DetoxifyParams(), context).process(Batch(records=records))
    blocklist = BlocklistStage(BlocklistParams(), context).process(Batch(records=records))
    toxicity = np.asarray(columns["toxicity"].to_pylist(), dtype=np.float64)
    severity = np.asarray(blocklist["blocklist_severity"].to_pylist(), dtype=np.float64)
    evidence = columns["toxicity_evidence"].to_pylist()
    by_model, by_lexicon = toxicity > args.threshold, severity >= 2.5
    rejected = by_model | by_lexicon
    pieces = [int(re.search(r"transformer pieces: (\d+)", ev[1]).group(1)) for ev in evidence]  # type: ignore[union-attr]
    report = {
        "split": args.split,
        "docs": len(texts),
        "chars": sum(len(t) for t in texts),
        "rejected": round(float(rejected.mean()), 4),
        "rejected_count": int(rejected.sum()),
        "toxicity_over_threshold": int(by_model.sum()),
        "blocklist_severe": int(by_lexicon.sum()),
        "pieces_per_doc": round(float(np.mean(pieces)), 2),
    }
    print(json.dumps(report, indent=2))
    if args.show:
        hits = blocklist["blocklist_hits"].to_pylist()
        for i in np.flatnonzero(rejected):
            print(f"--- {drawn[i][0]} toxicity {toxicity[i]:.3f} severity {severity[i]} hits {hits[i]}")
            print("\n".join(evidence[i]))


if __name__ == "__main__":
    main()
