"""Train the shipped ``toxicity.embedding`` head from the hand-written seed set (never from HateCheck).

    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/train_toxicity_head.py [--out PATH]

Reads ``bench/data/toxicity_seed/sentences.tsv`` (label, kind, text; ``{G}``/``{g}`` are placeholders for a plural /
singular identity from ``identities.tsv``), expands each template with ``--per-template`` identities chosen by a fixed
rotation, embeds with the packaged MiniLM, fits a logistic-regression head with grouped CV (one group per seed row, so
the expansions of a template never sit on both sides of a split) and writes the head JSON with its provenance.
"""

from __future__ import annotations

import argparse
import csv
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np

from datahygiene.scorers.embedding import DEFAULT_HEAD, MiniLMEncoder, fit_head, packaged_encoder_dir
from datahygiene.scorers.weights import sha256_file

SEED = Path(__file__).resolve().parent / "data" / "toxicity_seed"


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header line."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def expand(
    rows: list[dict[str, str]], identities: list[dict[str, str]], per_template: int
) -> list[tuple[str, int, int]]:
    """(text, label, seed row) for every expansion; identity choice rotates so each identity is used equally."""
    out: list[tuple[str, int, int]] = []
    cursor = 0
    for row_id, row in enumerate(rows):
        text, label = row["text"], int(row["label"])
        if "{G}" not in text and "{g}" not in text:
            out.append((text, label, row_id))
            continue
        for k in range(per_template):
            ident = identities[(cursor + k) % len(identities)]
            filled = text.replace("{G}", ident["plural"]).replace("{g}", ident["singular"])
            out.append((filled[0].upper() + filled[1:], label, row_id))
        cursor += per_template
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD)
    parser.add_argument("--per-template", type=int, default=6)
    parser.add_argument("--folds", type=int, default=5)
    # Precision on the seed set's out-of-fold scores that toxicity 0.8 (the default policy threshold) stands for. The
    # seed set is adversarial (about half its negatives are counter-speech, negation or identity mentions), so 0.9 is
    # only reached at a raw score of 0.997; 0.75 was chosen from the seed curve alone, before any HateCheck run.
    parser.add_argument("--target-precision", type=float, default=0.75)
    args = parser.parse_args()

    sentences, identities = SEED / "sentences.tsv", SEED / "identities.tsv"
    examples = expand(read_tsv(sentences), read_tsv(identities), args.per_template)
    texts = [t for t, _, _ in examples]
    y = np.asarray([label for _, label, _ in examples], dtype=np.int64)
    groups = np.asarray([g for _, _, g in examples], dtype=np.int64)
    encoder = MiniLMEncoder(packaged_encoder_dir())
    x = encoder.encode(texts)

    from sklearn.metrics import roc_auc_score

    provenance = {
        "trained_on": "hand-written seed set bench/data/toxicity_seed (no HateCheck data)",
        "seed_sentences_sha256": sha256_file(sentences),
        "seed_identities_sha256": sha256_file(identities),
        "per_template": args.per_template,
        "script": "bench/train_toxicity_head.py",
        "scikit_learn": version("scikit-learn"),
        "encoder_sha256": encoder.sha256,
    }
    fit = fit_head(x, y, groups, args.folds, "hate", provenance, args.target_precision)
    cv_auc = float(roc_auc_score(y, fit.oof_scores))
    fit.head.provenance["seed_grouped_cv_roc_auc"] = round(cv_auc, 4)
    fit.head.save(args.out)
    summary = {"out": str(args.out), "n": len(y), "positives": int(y.sum()), "C": fit.c_value, "cv_roc_auc": cv_auc}
    summary["score_mapping"] = fit.head.provenance["score_mapping"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
