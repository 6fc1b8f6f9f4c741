"""The run summary warns when the runner's own checks rejected every row (issue 16: 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from datahygiene.reports.summary import summary_markdown, summary_table, summary_warnings


def _manifest(rows_in: int, by_runner: int) -> dict[str, Any]:
    return {
        "rows_in": rows_in,
        "rows_kept": rows_in - by_runner,
        "rows_rejected": by_runner,
        "rows_quarantined": 0,
        "rows_rejected_by_runner": by_runner,
        "reject_reasons": {"missing_column:tweets": by_runner} if by_runner else {},
        "models": [],
        "shards_committed": 1,
        "shards_total": 1,
        "shards_failed": 0,
        "shards": [],
    }


def _rendered(manifest: dict[str, Any]) -> str:
    console = Console(width=200, record=True)
    console.print(summary_table(manifest, Path("out")))
    return console.export_text()


def test_every_row_rejected_by_the_runner_is_a_warning_in_both_renderings() -> None:
    manifest = _manifest(4, 4)
    assert len(summary_warnings(manifest)) == 1
    assert "warning: every row was rejected by the runner's own checks" in _rendered(manifest)
    assert "> **Warning:** every row was rejected by the runner's own checks" in summary_markdown(manifest, Path("o"))


def test_no_warning_while_some_row_passed_the_runner() -> None:
    for manifest in (_manifest(4, 3), _manifest(0, 0), {**_manifest(4, 0), "rows_kept": 0, "rows_rejected": 4}):
        assert summary_warnings(manifest) == []
        assert "warning" not in _rendered(manifest).lower()
