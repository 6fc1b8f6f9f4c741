"""Speed of ``toxicity.embedding`` (packaged MiniLM + heads) on the texts of a CSV column.

    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/bench_text_embedding.py \
        ../shared/eval-data/hatecheck/test_suite_cases.csv --column test_case
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import pyarrow as pa

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.toxicity.embedding import EmbeddingParams, EmbeddingToxicityStage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--column", default="text")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with args.csv.open(encoding="utf-8", newline="") as handle:
        texts = [row[args.column] for row in csv.DictReader(handle)]
    stage = EmbeddingToxicityStage(EmbeddingParams(batch_size=args.batch_size), StageContext(offline=True))
    batch = Batch(records=pa.RecordBatch.from_pydict({"text": texts}))
    start = time.perf_counter()
    stage.process(batch)
    took = time.perf_counter() - start
    device = stage.encoder.device
    print(f"toxicity.embedding on {device}: {len(texts)} texts in {took:.1f} s = {len(texts) / took:.0f} texts/s")


if __name__ == "__main__":
    main()
