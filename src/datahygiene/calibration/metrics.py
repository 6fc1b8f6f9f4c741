"""Calibration: run a text scorer over a labelled CSV/JSONL and report ranking and threshold metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from datahygiene.core import registry
from datahygiene.core.stage import Batch, StageContext


@dataclass
class Report:
    """Metrics of one scorer on one labelled file."""

    n: int
    positives: int
    roc_auc: float
    pr_auc: float
    best_f1: float
    best_f1_threshold: float
    threshold_at_precision: float | None
    group_threshold: float
    groups: dict[str, dict[str, float]]


def read_labelled(path: Path) -> pa.Table:
    """A CSV or JSONL file as an Arrow table."""
    if path.suffix in {".jsonl", ".json"}:
        return pajson.read_json(path)
    return pacsv.read_csv(path)


def score_texts(
    table: pa.Table,
    text_column: str,
    scorer: str,
    params: dict[str, Any],
    context: StageContext,
    score_column: str = "toxicity",
    batch_rows: int = 512,
) -> np.ndarray:
    """Scores of ``scorer`` over ``text_column``; NaN where the scorer gave null."""
    stage = registry.create(scorer, params, context)
    texts = table.column(text_column).cast(pa.string()).combine_chunks()
    out: list[np.ndarray] = []
    for start in range(0, len(texts), batch_rows):
        records = pa.RecordBatch.from_arrays([texts.slice(start, batch_rows)], names=["text"])
        column = stage.process(Batch(records=records))[score_column]
        out.append(column.to_numpy(zero_copy_only=False).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def evaluate(
    y: np.ndarray,
    scores: np.ndarray,
    groups: list[str] | None = None,
    target_precision: float = 0.9,
    group_threshold: float | None = None,
) -> Report:
    """ROC-AUC, PR-AUC, best F1 (+threshold), lowest threshold reaching ``target_precision``, per-group accuracy.

    Per-group accuracy counts ``score >= group_threshold`` as positive (default: the best-F1 threshold).
    """
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
    )

    scores = np.nan_to_num(scores, nan=0.0)
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    threshold = float(thresholds[best]) if len(thresholds) else 0.5
    reaching = np.nonzero(precision[:-1] >= target_precision)[0]
    at_precision = float(thresholds[reaching[0]]) if len(reaching) else None
    if group_threshold is None:
        group_threshold = threshold
    per_group: dict[str, dict[str, float]] = {}
    if groups is not None:
        labels = np.asarray(groups)
        for group in sorted(set(groups)):
            mask = labels == group
            predicted = scores[mask] >= group_threshold
            per_group[group] = {
                "n": float(mask.sum()),
                "positive_rate": float(y[mask].mean()),
                "accuracy": float((predicted == y[mask].astype(bool)).mean()),
                "mean_score": float(scores[mask].mean()),
            }
    return Report(
        n=len(y),
        positives=int(y.sum()),
        roc_auc=float(roc_auc_score(y, scores)),
        pr_auc=float(average_precision_score(y, scores)),
        best_f1=float(f1[best]),
        best_f1_threshold=threshold,
        threshold_at_precision=at_precision,
        group_threshold=group_threshold,
        groups=per_group,
    )
