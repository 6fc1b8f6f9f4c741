"""Build the datasheet of a finished run from its manifest, config and Parquet outputs.

Nothing here runs a model: every number comes from ``manifest.json``,
``config.json`` and one streaming pass over the output columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict, Unpack

from pydantic import ValidationError

from datahygiene.core.config import Rule
from datahygiene.io.sink import RunDir, atomic_write_bytes
from datahygiene.reports.datasheet.audit import load_identity_terms
from datahygiene.reports.datasheet.gallery import sample_removed
from datahygiene.reports.datasheet.model import Datasheet, Threshold
from datahygiene.reports.datasheet.provenance import reason_sources
from datahygiene.reports.datasheet.questions import load_answers, questions
from datahygiene.reports.datasheet.scan import reason_family, scan

COUNT_KEYS = ("rows_in", "rows_kept", "rows_rejected", "rows_quarantined")
_RUN_KEYS = (
    "datahygiene_version",
    "manifest_version",
    "config_sha256",
    "started_at",
    "finished_at",
    "duration_seconds",
    "shards_total",
    "shards_committed",
    "shards_failed",
)
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
_LARGE = ((10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"))


def size_category(rows: int) -> str:
    """The Hugging Face ``size_categories`` label for ``rows``."""
    for bound, label in (*_SIZES, *_LARGE):
        if rows < bound:
            return label
    return "10B<n<100B" if rows < 10**11 else "100B<n<1T"


def _thresholds(policy: list[dict[str, Any]]) -> dict[str, list[Threshold]]:
    found: dict[str, list[Threshold]] = {}
    for entry in policy:
        try:
            rule = Rule.model_validate(entry)
        except ValidationError:
            continue
        operand = rule.operand
        if isinstance(operand, float):
            found.setdefault(rule.column, []).append(Threshold(rule.op, operand, rule.action, rule.reason_template))
    return found


def _card(answered: dict[str, Any], rows_kept: int) -> dict[str, Any]:
    """The card's metadata: what a person answered, else "unknown" (the task is never guessed from the data)."""
    card: dict[str, Any] = {
        "license": answered.get("license", "unknown"),
        "task_categories": list(answered.get("task_categories") or []),
        "size_categories": [size_category(rows_kept)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "kept/*.parquet"}]}],
    }
    for key in ("language", "pretty_name", "tags"):
        if key in answered:
            card[key] = answered[key]
    return card


def build_datasheet(
    run_dir: Path,
    *,
    answers: Path | None = None,
    identity_terms: Path | None = None,
    disparity_factor: float = 2.0,
    min_group_rows: int = 10,
    blur: bool = True,
) -> Datasheet:
    """Collect everything the run at ``run_dir`` knows into a :class:`Datasheet`."""
    manifest = RunDir(run_dir).read_manifest()
    config_path = run_dir / "config.json"
    config: dict[str, Any] = json.loads(config_path.read_text()) if config_path.exists() else {}
    answered, card_answers = load_answers(answers)
    result = scan(run_dir, load_identity_terms(identity_terms), manifest.get("column_roles") or {})
    counts = {key: int(manifest[key]) for key in COUNT_KEYS}
    warnings = [
        f"{route} files hold {result.rows[route]} rows, the manifest says {counts[f'rows_{route}']}"
        for route in ("kept", "rejected", "quarantined")
        if result.rows[route] != counts[f"rows_{route}"]
    ]
    if manifest.get("shards_failed"):
        warnings.append(f"{manifest['shards_failed']} input shard(s) failed and are not in the outputs")
    if counts["rows_kept"] == 0:
        warnings.append(
            f"the run kept no rows (of {counts['rows_in']} read): there is nothing to train on; "
            "the removal reasons below say why"
        )
    if result.uninherited:
        warnings.append(
            f"{result.uninherited} removed duplicate(s) carry rights or provenance signals that their kept copy "
            "(committed in an earlier shard or run) lacks; find them in rejected/ by dup_of (docs/dedup.md)"
        )
    families: dict[str, int] = {}
    for reason, count in manifest["reject_reasons"].items():
        families[reason_family(reason)] = families.get(reason_family(reason), 0) + int(count)
    thresholds = _thresholds(manifest.get("policy", []))
    for name, histogram in result.histograms.items():
        histogram.thresholds = thresholds.get(name, [])
    scored = {name: h for name, h in result.histograms.items() if sum(h.kept) + sum(h.removed)}
    unscored = sorted(set(result.histograms) - set(scored))
    run = {key: manifest.get(key) for key in _RUN_KEYS}
    run["stages"] = config.get("stages", [])
    sources = [
        {k: entry.get(k) for k in ("shard", "kind", "status", "rows_read", "rows_kept", "rows_rejected", "error")}
        for entry in manifest["shards"]
    ]
    assert result.audit is not None
    return Datasheet(
        run=run,
        counts=counts,
        reject_reasons=dict(sorted(manifest["reject_reasons"].items(), key=lambda item: (-item[1], item[0]))),
        reason_families=dict(sorted(families.items(), key=lambda item: (-item[1], item[0]))),
        reason_sources=reason_sources(
            list(manifest["reject_reasons"]), manifest.get("policy", []), manifest.get("models", [])
        ),
        sources=sources,
        models=list(manifest.get("models", [])),
        policy=list(manifest.get("policy", [])),
        modalities=result.modalities,
        licenses=dict(sorted(result.licenses.items(), key=lambda item: (-item[1], item[0]))),
        histograms=[scored[name] for name in sorted(scored)],
        unscored=unscored,
        c2pa=dict(sorted(result.c2pa.items())),
        numbers=[result.numbers[name] for name in sorted(result.numbers)],
        duplicates=dict(sorted(result.duplicates.items())),
        tags=[result.tags[name] for name in sorted(result.tags)],
        faces=result.faces,
        audit=result.audit.result(factor=disparity_factor, min_rows=min_group_rows),
        questions=questions(answered),
        card=_card(card_answers, counts["rows_kept"]),
        warnings=warnings,
        gallery=sample_removed(run_dir, blur=blur),
    )


class DatasheetOptions(TypedDict, total=False):
    """Keyword options of :func:`build_datasheet`, passed through by :func:`write_datasheet`."""

    answers: Path | None
    identity_terms: Path | None
    disparity_factor: float
    min_group_rows: int
    blur: bool


def write_datasheet(run_dir: Path, **options: Unpack[DatasheetOptions]) -> list[Path]:
    """Write datasheet.md, datasheet.json, README.md (dataset card) and datasheet.html into ``run_dir``."""
    from datahygiene.reports.datasheet.render_card import render_card
    from datahygiene.reports.datasheet.render_html import render_html
    from datahygiene.reports.datasheet.render_md import render_markdown

    sheet = build_datasheet(run_dir, **options)
    documents = {
        "datasheet.md": render_markdown(sheet),
        "datasheet.json": json.dumps(sheet.to_dict(), indent=2, sort_keys=True) + "\n",
        "README.md": render_card(sheet),
        "datasheet.html": render_html(sheet),
    }
    paths = []
    for name, text in documents.items():
        atomic_write_bytes(run_dir / name, text.encode("utf-8"))
        paths.append(run_dir / name)
    return paths
