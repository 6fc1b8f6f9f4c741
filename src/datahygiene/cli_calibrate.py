"""``datahygiene calibrate``: score a labelled file and print metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

import datahygiene.scorers.nsfw
import datahygiene.scorers.toxicity  # noqa: F401  (registers the scorers)
from datahygiene.calibrate import evaluate, read_labelled, score_texts
from datahygiene.stage import StageContext


def calibrate(
    path: Annotated[Path, typer.Argument(help="Labelled CSV or JSONL file.")],
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column holding the label.")] = "label",
    positive: Annotated[str, typer.Option(help="Label value that counts as positive.")] = "1",
    scorer: Annotated[str, typer.Option(help="Registered stage name.")] = "toxicity.detoxify",
    params: Annotated[str, typer.Option(help="Stage params as JSON.")] = "{}",
    score_column: Annotated[str, typer.Option(help="Output column used as the score.")] = "toxicity",
    group_by: Annotated[str | None, typer.Option(help="Column for a per-group breakdown.")] = None,
    target_precision: Annotated[float, typer.Option(help="Precision the reported threshold must reach.")] = 0.9,
    models_dir: Annotated[Path | None, typer.Option(help="Models directory.")] = None,
    offline: Annotated[bool, typer.Option(help="Never touch the network.")] = True,
) -> None:
    """Run a scorer over a labelled file; print ROC-AUC, PR-AUC, F1, thresholds and a per-group breakdown as JSON."""
    table = read_labelled(path)
    y = np.asarray([str(v) == positive for v in table.column(label_column).to_pylist()], dtype=np.int64)
    context = StageContext(models_dir=models_dir, offline=offline)
    scores = score_texts(table, text_column, scorer, json.loads(params), context, score_column)
    groups = [str(v) for v in table.column(group_by).to_pylist()] if group_by else None
    report = evaluate(y, scores, groups, target_precision)
    typer.echo(json.dumps(report.__dict__, indent=2))
