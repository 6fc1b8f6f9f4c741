"""``datahygiene calibrate``: score a labelled file and print metrics, or fit an embedding head with grouped CV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


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
    threshold: Annotated[
        float | None, typer.Option(help="Threshold for the per-group accuracy (default: the best-F1 threshold).")
    ] = None,
    fit_head: Annotated[
        Path | None,
        typer.Option(help="Fit a toxicity.embedding head on this file with grouped CV and save it here (JSON)."),
    ] = None,
    cv_group_by: Annotated[
        str | None, typer.Option(help="With --fit-head: column whose groups never straddle CV folds.")
    ] = None,
    folds: Annotated[int, typer.Option(help="With --fit-head: number of CV folds.")] = 5,
    head_label: Annotated[str, typer.Option(help="With --fit-head: label of the head (column tox_<label>).")] = "hate",
    models_dir: Annotated[Path | None, typer.Option(help="Models directory.")] = None,
    offline: Annotated[bool, typer.Option(help="Never touch the network.")] = True,
) -> None:
    """Run a scorer over a labelled file; print ROC-AUC, PR-AUC, F1, thresholds and a per-group breakdown as JSON.

    With ``--fit-head OUT`` the metrics are those of the out-of-fold scores of grouped cross-validation (the text is
    embedded with toxicity.embedding's MiniLM; ``--params`` are its params), and the head fitted on all rows is saved
    to OUT for ``toxicity.embedding`` param ``head: OUT``.
    """
    import numpy as np

    from datahygiene.calibration.heads import fit_head_on_table
    from datahygiene.calibration.metrics import evaluate, read_labelled, score_texts
    from datahygiene.core.stage import StageContext
    from datahygiene.stages.weights import sha256_file

    table = read_labelled(path)
    y = np.asarray([str(v) == positive for v in table.column(label_column).to_pylist()], dtype=np.int64)
    context = StageContext(models_dir=models_dir, offline=offline)
    groups = [str(v) for v in table.column(group_by).to_pylist()] if group_by else None
    extra: dict[str, Any] = {}
    if fit_head is not None:
        cv_groups = [str(v) for v in table.column(cv_group_by).to_pylist()] if cv_group_by else None
        provenance = {
            "trained_on": f"datahygiene calibrate --fit-head {path.name}",
            "source_sha256": sha256_file(path),
            "cv_group_by": cv_group_by,
        }
        fit = fit_head_on_table(
            table,
            text_column,
            y,
            cv_groups,
            json.loads(params),
            context,
            folds,
            target_precision,
            provenance=provenance,
            label=head_label,
        )
        fit.head.save(fit_head)
        scores = fit.oof_scores
        extra = {
            "mode": f"fit-head: out-of-fold scores of {folds}-fold CV grouped by {cv_group_by or 'row'}",
            "head": str(fit_head),
            "head_sha256": sha256_file(fit_head),
            "C": fit.c_value,
        }
    else:
        scores = score_texts(table, text_column, scorer, json.loads(params), context, score_column)
    report = evaluate(y, scores, groups, target_precision, threshold)
    typer.echo(json.dumps({**extra, **report.__dict__}, indent=2))
