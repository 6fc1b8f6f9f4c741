"""The end-of-run summary, from the manifest: one set of lines, drawn as a terminal table or as Markdown.

``datahygiene run`` and ``inspect`` print :func:`summary_table` and :func:`stage_table`; the flow publishes
:func:`summary_markdown` as its run artifact. Both show the same counts, reasons and per-stage time because both
come from :func:`summary_lines` and :func:`stage_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from datahygiene.io.rundir import RunDir

ROW_TOTALS: tuple[tuple[str, str], ...] = (
    ("read", "rows_in"),
    ("kept", "rows_kept"),
    ("rejected", "rows_rejected"),
    ("quarantined", "rows_quarantined"),
)


@dataclass(frozen=True)
class SummaryLine:
    """One line of the summary: a total (``read``, ``kept`` ...) or a reject reason, with its share of rows read."""

    label: str
    rows: int
    share: float
    is_reason: bool = False


def summary_lines(manifest: dict[str, Any], top_reasons: int | None = None) -> list[SummaryLine]:
    """The totals, then the reject reasons by rows (most first; ``top_reasons`` of them when given)."""
    total = max(int(manifest["rows_in"]), 1)
    lines = [SummaryLine(label, int(manifest[key]), int(manifest[key]) / total) for label, key in ROW_TOTALS]
    reasons = sorted(manifest["reject_reasons"].items(), key=lambda item: (-item[1], item[0]))
    lines += [SummaryLine(reason, count, count / total, is_reason=True) for reason, count in reasons[:top_reasons]]
    return lines


@dataclass(frozen=True)
class StageLine:
    """Where time went: one engine step (read, decode, ...) or stage, summed over the run's shards."""

    stage: str
    kind: str
    seconds: float
    rows: int
    megabytes: float
    rows_per_second: float | None
    share: float


def stage_lines(manifest: dict[str, Any]) -> list[StageLine]:
    """The manifest's per-stage accounting in pipeline order, with each line's share of the timed seconds."""
    entries = manifest.get("stages") or []
    total = sum(float(e["seconds"]) for e in entries) or 1.0
    return [
        StageLine(
            stage=str(e["stage"]),
            kind=str(e.get("kind", "stage")),
            seconds=float(e["seconds"]),
            rows=int(e["rows"]),
            megabytes=int(e["bytes"]) / 1e6,
            rows_per_second=e.get("rows_per_second"),
            share=float(e["seconds"]) / total,
        )
        for e in entries
    ]


def stage_table(manifest: dict[str, Any]) -> Table | None:
    """Seconds, rows, MB and rows/s per engine step and stage (``None`` for a run without the accounting)."""
    lines = stage_lines(manifest)
    if not lines:
        return None
    table = Table(title="time by stage", show_header=True)
    for name, justify in (("stage", "left"), ("seconds", "right"), ("share", "right"), ("rows", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("MB", justify="right")
    table.add_column("rows/s", justify="right")
    for line in lines:
        rate = f"{line.rows_per_second:,.0f}" if line.rows_per_second else "-"
        label = line.stage if line.kind == "stage" else f"[dim]{line.stage}[/]"
        table.add_row(
            label, f"{line.seconds:.2f}", f"{line.share:.0%}", f"{line.rows:,}", f"{line.megabytes:,.1f}", rate
        )
    return table


def summary_warnings(manifest: dict[str, Any]) -> list[str]:
    """What a user must not miss: e.g. every row rejected by the runner's own checks (a wrong mapping or format)."""
    rows = int(manifest.get("rows_in", 0))
    if rows and manifest.get("rows_rejected_by_runner") == rows:
        return [
            "every row was rejected by the runner's own checks (see the reasons): is the column mapping "
            "(columns:) or the input format right?"
        ]
    return []


def summary_table(manifest: dict[str, Any], output: Path | str, top_reasons: int = 15) -> Group:
    """The summary for the terminal: a table (reasons indented under the totals), then any warnings."""
    table = Table(title=f"datahygiene run -> {output}", show_header=True)
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for line in summary_lines(manifest, top_reasons):
        table.add_row(f"  {line.label}" if line.is_reason else line.label, f"{line.rows:,}", f"{line.share:.1%}")
    warnings = [Text.from_markup(f"[bold yellow]warning:[/] {warning}") for warning in summary_warnings(manifest)]
    return Group(table, *warnings)


def _stage_markdown(steps: list[StageLine]) -> list[str]:
    """The per-stage accounting as a Markdown section (none for a run without it)."""
    if not steps:
        return []
    lines = [
        "",
        "## Time by stage",
        "",
        "| stage | seconds | share | rows | MB | rows/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for step in steps:
        rate = f"{step.rows_per_second:,.0f}" if step.rows_per_second else "-"
        name = f"`{step.stage}`" if step.kind == "stage" else step.stage
        lines.append(
            f"| {name} | {step.seconds:.2f} | {step.share:.0%} | {step.rows:,} | {step.megabytes:,.1f} | {rate} |"
        )
    return lines


def summary_markdown(manifest: dict[str, Any], output: Path | str, workers: list[str] | None = None) -> str:
    """The summary as Markdown: totals, every reason, models, shards (and the workers that scored them), documents."""
    lines = [f"# datahygiene run: `{output}`", ""]
    for warning in summary_warnings(manifest):
        lines += [f"> **Warning:** {warning}", ""]
    lines += ["| rows | count | share |", "|---|---:|---:|"]
    reasons = ["", "## Reject reasons", "", "| reason | rows |", "|---|---:|"]
    for line in summary_lines(manifest):
        if line.is_reason:
            reasons.append(f"| `{line.label}` | {line.rows:,} |")
        else:
            lines.append(f"| {line.label} | {line.rows:,} | {line.share:.1%} |")
    lines += reasons
    lines += _stage_markdown(stage_lines(manifest))
    lines += ["", "## Models", "", "| stage | version | model |", "|---|---|---|"]
    for model in manifest["models"]:
        lines.append(f"| `{model['stage']}` | {model['version']} | {model.get('model') or '-'} |")
    shards = f"{manifest['shards_committed']} of {manifest['shards_total']} committed"
    lines += ["", "## Shards", "", f"{shards}, {manifest['shards_failed']} failed."]
    if workers:
        lines.append(f"Scored in this attempt on {len(workers)} worker(s): {', '.join(f'`{w}`' for w in workers)}.")
    for entry in manifest["shards"]:
        if entry.get("status") == "failed":
            lines.append(f"- failed: `{entry['shard']}` (rerun to retry it)")
    run_dir = RunDir.at(output)
    datasheet = run_dir.describe("datasheet.md")
    lines += [
        "",
        "## Documents",
        "",
        f"- manifest: `{run_dir.describe('manifest.json')}`",
        f"- datasheet: `{datasheet}`" if run_dir.exists("datasheet.md") else "- datasheet: not written",
    ]
    return "\n".join(lines) + "\n"
