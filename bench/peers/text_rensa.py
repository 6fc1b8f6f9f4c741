"""Peer for ``bench_end_to_end.py text``: the rensa loop a user would write, start to exit.

Read the JSON Lines file, shingle each document (lower case, whitespace words, 5-grams), MinHash it
(rensa RMinHash, 128 slots), query an LSH index (rensa RMinHashLSH), verify candidates by estimated
Jaccard >= 0.8, keep first occurrences and write them out as JSON Lines.

    python bench/peers/text_rensa.py INPUT.jsonl OUTPUT.jsonl
"""

from __future__ import annotations

import sys

import orjson
from rensa import RMinHash, RMinHashLSH

NGRAM, NUM_PERM, THRESHOLD = 5, 128, 0.8


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    with open(source, "rb") as handle:  # noqa: PTH123 - the plain harness
        records = [orjson.loads(line) for line in handle if line.strip()]
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=16)
    kept: dict[int, RMinHash] = {}
    with open(target, "wb") as out:  # noqa: PTH123
        for i, record in enumerate(records):
            words = str(record.get("text") or "").lower().split()
            grams = [" ".join(words[k : k + NGRAM]) for k in range(max(1, len(words) - NGRAM + 1))]
            sketch = RMinHash(num_perm=NUM_PERM, seed=1)
            sketch.update(grams)
            if any(sketch.jaccard(kept[j]) >= THRESHOLD for j in lsh.query(sketch)):
                continue
            lsh.insert(i, sketch)
            kept[i] = sketch
            out.write(orjson.dumps(record) + b"\n")
    print(f"kept {len(kept)} of {len(records)}")


if __name__ == "__main__":
    main()
