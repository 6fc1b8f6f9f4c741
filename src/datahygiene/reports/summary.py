"""The end-of-run summary, from the manifest: one set of lines, drawn as a terminal table or as Markdown.

``datahygiene run`` and ``inspect`` print :func:`summary_table`; the flow publishes :func:`summary_markdown` as
its run artifact. Both show the same counts and reasons because both come from :func:`summary_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

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


def summary_table(manifest: dict[str, Any], output: Path | str, top_reasons: int = 15) -> Table:
    """The summary as a terminal table (reasons indented under the totals)."""
    table = Table(title=f"datahygiene run -> {output}", show_header=True)
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for line in summary_lines(manifest, top_reasons):
        table.add_row(f"  {line.label}" if line.is_reason else line.label, f"{line.rows:,}", f"{line.share:.1%}")
    return table


def summary_markdown(manifest: dict[str, Any], output: Path | str, workers: list[str] | None = None) -> str:
    """The summary as Markdown: totals, every reason, models, shards (and the workers that scored them), documents."""
    lines = [f"# datahygiene run: `{output}`", "", "| rows | count | share |", "|---|---:|---:|"]
    reasons = ["", "## Reject reasons", "", "| reason | rows |", "|---|---:|"]
    for line in summary_lines(manifest):
        if line.is_reason:
            reasons.append(f"| `{line.label}` | {line.rows:,} |")
        else:
            lines.append(f"| {line.label} | {line.rows:,} | {line.share:.1%} |")
    lines += reasons
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
