"""Training linear toxicity heads on sentence embeddings: nested grouped CV, regularisation choice, score mapping.

The ``toxicity.embedding`` stage only loads heads (:class:`~datahygiene.stages.toxicity.embedding.LinearHead`);
fitting them lives here, with the metrics, so that no stage imports calibration code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from datahygiene.calibration.metrics import evaluate
from datahygiene.core.stage import StageContext
from datahygiene.stages.toxicity.embedding import EmbeddingParams, LinearHead, MiniLMEncoder, packaged_encoder_dir
from datahygiene.stages.weights import pick_device

C_GRID: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def _fit(c_value: float, x: np.ndarray, y: np.ndarray) -> Any:
    """A balanced logistic regression fitted on one training fold (both classes needed)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        raise ValueError(
            "a cross-validation training fold holds only one class: use fewer folds or groups that mix labels"
        )
    return LogisticRegression(C=c_value, max_iter=5000, class_weight="balanced").fit(x, y)


def _grouped_oof(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, c_value: float) -> np.ndarray:
    """Out-of-fold probabilities of a logistic regression, folds split by group (no group in two folds)."""
    from sklearn.model_selection import GroupKFold

    oof = np.zeros(len(y), dtype=np.float64)
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        oof[test] = _fit(c_value, x[train], y[train]).predict_proba(x[test])[:, 1]
    return oof


def select_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, grid: tuple[float, ...] = C_GRID) -> float:
    """The regularisation strength with the best grouped-CV ROC-AUC (ties: the stronger regularisation)."""
    from sklearn.metrics import roc_auc_score

    scores = [float(roc_auc_score(y, _grouped_oof(x, y, groups, folds, c))) for c in grid]
    return grid[int(np.argmax(scores))]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def anchor_mapping(oof: np.ndarray, y: np.ndarray, target_precision: float) -> tuple[float, float, dict[str, Any]]:
    """Scale and shift of the logit so that 0.8 (the default policy threshold) means "reached ``target_precision``".

    Both thresholds come from out-of-fold scores. When the lowest threshold reaching ``target_precision`` lies above
    the best-F1 threshold, the logit is scaled and shifted so the best-F1 threshold maps to 0.5 and the precision one
    to 0.8; when it lies at or below it, only shifted so the precision one maps to 0.8; when no threshold reaches the
    target, only shifted so the best-F1 threshold maps to 0.5.
    """
    report = evaluate(y, oof, target_precision=target_precision)
    low = _logit(report.best_f1_threshold)
    high = report.threshold_at_precision
    scale, shift = 1.0, -low
    if high is not None and _logit(high) > low + 1e-3:
        scale = _logit(0.8) / (_logit(high) - low)
        shift = -scale * low
    elif high is not None:
        shift = _logit(0.8) - _logit(high)
    info = {
        "cv_best_f1_threshold": report.best_f1_threshold,
        "cv_threshold_at_precision": high,
        "target_precision": target_precision,
        "logit_scale": scale,
        "logit_shift": shift,
    }
    return scale, shift, info


@dataclass
class HeadFit:
    """A fitted head plus honest out-of-fold scores (C chosen inside each outer fold), both on the mapped scale."""

    head: LinearHead
    oof_scores: np.ndarray
    c_value: float
    folds: int


def fit_head(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int = 5,
    label: str = "hate",
    provenance: dict[str, Any] | None = None,
    target_precision: float = 0.9,
) -> HeadFit:
    """Nested grouped CV for out-of-fold scores, a final fit on all rows (C by grouped CV), then the anchor mapping."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(set(groups.tolist()))
    if n_groups < folds:
        raise ValueError(f"need at least {folds} distinct groups for {folds}-fold grouped CV, got {n_groups}")
    logits = np.zeros(len(y), dtype=np.float64)
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        inner = max(2, min(folds - 1, len(set(groups[train].tolist()))))  # inner CV on the outer training groups
        c_value = select_c(x[train], y[train], groups[train], inner)
        logits[test] = _fit(c_value, x[train], y[train]).decision_function(x[test])
    raw = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    scale, shift, mapping = anchor_mapping(raw, y, target_precision)
    c_value = select_c(x, y, groups, folds)
    model = _fit(c_value, x, y)
    head = LinearHead(
        coef=scale * np.asarray(model.coef_[0], dtype=np.float64),
        intercept=scale * float(model.intercept_[0]) + shift,
        label=label,
        provenance={
            **(provenance or {}),
            "C": c_value,
            "cv_folds": folds,
            "n": len(y),
            "positives": int(y.sum()),
            "score_mapping": mapping,
        },
    )
    oof = (1.0 / (1.0 + np.exp(-(scale * logits + shift)))).astype(np.float32)
    return HeadFit(head=head, oof_scores=oof, c_value=c_value, folds=folds)


def table_texts(table: pa.Table, text_column: str) -> list[str]:
    """The text column as strings ('' for nulls)."""
    return ["" if v is None else str(v) for v in table.column(text_column).cast(pa.string()).to_pylist()]


def fit_head_on_table(
    table: pa.Table,
    text_column: str,
    y: np.ndarray,
    cv_groups: list[str] | None,
    params: dict[str, Any],
    context: StageContext,
    folds: int = 5,
    target_precision: float = 0.9,
    provenance: dict[str, Any] | None = None,
    label: str = "hate",
) -> Any:
    """Embed ``text_column`` with the ``toxicity.embedding`` encoder and fit a head with grouped CV (a ``HeadFit``).

    ``cv_groups`` keeps every group inside one fold (None: each row is its own group).
    """
    settings = EmbeddingParams(**params)
    encoder = MiniLMEncoder(
        settings.encoder_dir or packaged_encoder_dir(), pick_device(context.device), settings.max_length
    )
    x = encoder.encode(table_texts(table, text_column), settings.batch_size)
    groups = np.asarray(cv_groups if cv_groups is not None else [str(i) for i in range(len(y))])
    info = {**(provenance or {}), "encoder_sha256": encoder.sha256}
    return fit_head(x, y, groups, folds, label, info, target_precision)
