"""Fitting the toxicity combiner: source-balanced weights, grouped out-of-fold scores, the score mapping."""

from __future__ import annotations

from typing import Any

import numpy as np


def source_weights(sources: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample weights giving every source the same total weight, split evenly between its two labels."""
    weights = np.ones(len(y), dtype=np.float64)
    for source in np.unique(sources):
        for label in (0, 1):
            cell = (sources == source) & (y == label)
            if cell.any():
                weights[cell] = 0.5 / cell.sum()
    return np.asarray(weights * len(y) / weights.sum(), dtype=np.float64)


def fit_logistic(x: Any, y: np.ndarray, c_value: float, weights: np.ndarray | None = None) -> Any:
    """A logistic regression (balanced classes when no weights are given)."""
    from sklearn.linear_model import LogisticRegression

    if weights is None:
        return LogisticRegression(C=c_value, max_iter=5000, class_weight="balanced").fit(x, y)
    return LogisticRegression(C=c_value, max_iter=5000).fit(x, y, sample_weight=weights)


def weighted_quantile_threshold(z: np.ndarray, weights: np.ndarray, rate: float) -> float:
    """The score above which ``rate`` of the (weighted) rows lie."""
    order = np.argsort(-z)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return float(z[order][min(int(np.searchsorted(cumulative, rate)), len(z) - 1)])


def fpr_mapping(z: np.ndarray, y: np.ndarray, weights: np.ndarray, fpr_high: float, fpr_mid: float) -> dict[str, float]:
    """Scale and shift of the logit putting 0.8 at false-positive rate ``fpr_high`` and 0.5 at ``fpr_mid``.

    Rates are over the weighted negatives of out-of-fold scores ``z``.
    """
    negatives = y == 0
    high = weighted_quantile_threshold(z[negatives], weights[negatives], fpr_high)
    mid = weighted_quantile_threshold(z[negatives], weights[negatives], fpr_mid)
    if high <= mid:
        raise ValueError(f"out-of-fold scores do not separate: threshold at FPR {fpr_high} <= at {fpr_mid}")
    scale = float(np.log(4.0) / (high - mid))
    positives = y == 1
    recall = float((weights[positives] * (z[positives] > high)).sum() / weights[positives].sum())
    return {
        "scale": scale,
        "shift": -scale * mid,
        "fpr_at_0.8": fpr_high,
        "fpr_at_0.5": fpr_mid,
        "oof_recall_at_0.8": round(recall, 4),
    }
