"""Calibration metrics on constructed scores and end to end on a small labelled CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datahygiene.calibration.metrics import evaluate, read_labelled, score_texts
from datahygiene.core.stage import StageContext
from datahygiene.stages.toxicity import detoxify as toxicity  # noqa: F401  (registers the scorers)


def test_evaluate_perfect_and_inverted() -> None:
    y = np.array([0, 0, 1, 1])
    good = evaluate(y, np.array([0.1, 0.2, 0.8, 0.9]), ["a", "a", "b", "b"], target_precision=1.0)
    assert good.roc_auc == pytest.approx(1.0)
    assert good.best_f1 == pytest.approx(1.0)
    assert good.threshold_at_precision == pytest.approx(0.8)
    assert good.groups["a"]["accuracy"] == pytest.approx(1.0)
    bad = evaluate(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert bad.roc_auc == pytest.approx(0.0)


def test_score_texts_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "labelled.csv"
    path.write_text("text,label\nhave a lovely day,0\nyou stupid fucking idiot,1\nthanks for the help,0\n", "utf-8")
    table = read_labelled(path)
    scores = score_texts(table, "text", "toxicity.profanity", {}, StageContext(offline=True))
    y = np.array([0, 1, 0])
    assert evaluate(y, scores).roc_auc == pytest.approx(1.0)
