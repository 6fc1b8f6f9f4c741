"""Train the shipped ``toxicity.embedding`` heads from the hand-written seed set (never from HateCheck).

    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/train_toxicity_head.py --task hate
    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/train_toxicity_head.py --task abuse

``hate``: ``bench/data/toxicity_seed/sentences.tsv`` (label, kind, text; ``{G}``/``{g}`` are placeholders for a
plural / singular identity from ``identities.tsv``) plus the generic negatives of ``neutral.tsv``.
``abuse`` (insults, threats and harassment aimed at a person): ``abuse.tsv`` plus the rows of ``sentences.tsv`` and
``neutral.tsv`` relabelled (``abuse_individual`` positive, hate rows left out, the rest negative).

Each template is expanded with ``--per-template`` identities chosen by a fixed rotation; the texts are embedded with
the packaged MiniLM; a logistic-regression head is fitted with grouped CV (one group per seed row, so the expansions
of a template never sit on both sides of a split) and written as JSON with its provenance.
"""

from __future__ import annotations

import argparse
import csv
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np

from datahygiene.calibration.heads import fit_head
from datahygiene.stages.toxicity.embedding import HEADS_DIR, MiniLMEncoder, packaged_encoder_dir
from datahygiene.stages.weights import sha256_file

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


def examples_for(task: str, per_template: int) -> tuple[list[tuple[str, int, int]], list[Path]]:
    """Expanded (text, label, group) rows for ``task`` and the seed files they came from."""
    sentences, identities, abuse = SEED / "sentences.tsv", SEED / "identities.tsv", SEED / "abuse.tsv"
    neutral = SEED / "neutral.tsv"
    rows = read_tsv(sentences) + read_tsv(neutral)
    if task == "hate":
        return expand(rows, read_tsv(identities), per_template), [sentences, neutral, identities]
    relabelled = [
        {**row, "label": "1" if row["kind"] == "abuse_individual" else "0"}
        for row in rows
        if row["label"] == "0" or row["kind"] == "abuse_individual"
    ]
    return expand(relabelled + read_tsv(abuse), read_tsv(identities), per_template), [
        sentences,
        neutral,
        identities,
        abuse,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["hate", "abuse"], default="hate")
    parser.add_argument("--out", type=Path, default=None, help="default: the shipped head of the task")
    parser.add_argument("--per-template", type=int, default=6)
    parser.add_argument("--folds", type=int, default=5)
    # Out-of-fold precision that toxicity 0.8 (the default policy threshold) stands for; default per task. The hate
    # seed set is adversarial (about half its negatives are counter-speech, negation or identity mentions): 0.9 is only
    # reached at a raw score of 0.997 there, so hate uses 0.75. Both were chosen from the seed curves alone.
    parser.add_argument("--target-precision", type=float, default=None, help="default: hate 0.75, abuse 0.9")
    args = parser.parse_args()
    out = args.out or HEADS_DIR / f"minilm_{args.task}_seed.json"
    target_precision = args.target_precision or {"hate": 0.75, "abuse": 0.9}[args.task]

    examples, sources = examples_for(args.task, args.per_template)
    texts = [t for t, _, _ in examples]
    y = np.asarray([label for _, label, _ in examples], dtype=np.int64)
    groups = np.asarray([g for _, _, g in examples], dtype=np.int64)
    encoder = MiniLMEncoder(packaged_encoder_dir())
    x = encoder.encode(texts)

    from sklearn.metrics import roc_auc_score

    provenance = {
        "trained_on": f"hand-written seed set bench/data/toxicity_seed, task {args.task} (no HateCheck data)",
        "seed_sha256": {path.name: sha256_file(path) for path in sources},
        "per_template": args.per_template,
        "script": "bench/train_toxicity_head.py",
        "scikit_learn": version("scikit-learn"),
        "encoder_sha256": encoder.sha256,
    }
    fit = fit_head(x, y, groups, args.folds, args.task, provenance, target_precision)
    cv_auc = float(roc_auc_score(y, fit.oof_scores))
    fit.head.provenance["seed_grouped_cv_roc_auc"] = round(cv_auc, 4)
    fit.head.save(out)
    summary = {"out": str(out), "n": len(y), "positives": int(y.sum()), "C": fit.c_value, "cv_roc_auc": cv_auc}
    summary["score_mapping"] = fit.head.provenance["score_mapping"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
