"""``datahygiene run --resume`` on a finished run does nothing: no model loads, no file is rewritten."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.engine import run as run_module


def _files(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def test_resume_on_a_finished_run_is_a_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["one text", "another text", ""]}), source)
    output = tmp_path / "out"
    command = ["run", "configs/minimal.yaml", "-i", str(source), "-o", str(output)]
    runner = CliRunner()
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    before = _files(output)

    def no_pipeline(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run must not build its stages again")

    monkeypatch.setattr(run_module, "Pipeline", no_pipeline)
    again = runner.invoke(app, [*command, "--resume"])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    assert "rows" in again.output  # the summary of the finished run is still shown
    assert _files(output) == before  # manifest, datasheet and data untouched (same bytes, same mtimes)


def test_resume_after_a_failed_shard_still_works(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "fine"}\n')
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    output = tmp_path / "out"
    command = ["run", "configs/minimal.yaml", "-i", str(good), "-i", str(broken), "-o", str(output), "--no-datasheet"]
    runner = CliRunner()
    assert runner.invoke(app, command).exit_code == 1
    again = runner.invoke(app, [*command, "--resume"])
    assert again.exit_code == 1  # the broken shard is tried again (and fails again), not skipped as "finished"
    assert "nothing to do" not in again.output
