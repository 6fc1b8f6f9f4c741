"""``datahygiene datasheet OUT`` regenerates the documents from the run alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from datahygiene.cli.datasheet import datasheet
from datahygiene.cli.demo import make_demo
from datahygiene.core.config import parse_config
from datahygiene.engine.run import run
from datahygiene.reports.datasheet import write_datasheet
from tests.reports.datasheet import planted

NAMES = ("datasheet.md", "datasheet.json", "README.md", "datasheet.html")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("datasheet")(datasheet)
    app.command("noop")(lambda: None)  # a second command keeps typer in multi-command mode, as in the real CLI
    return app


def test_regenerates_identical_documents_without_running_stages(planted_run: Path, tmp_path: Path) -> None:
    first = {name: path.read_bytes() for name, path in zip(NAMES, write_datasheet(planted_run), strict=True)}
    run_dir = tmp_path / "copy"
    shutil.copytree(planted_run, run_dir)
    for name in NAMES:
        (run_dir / name).unlink()
    calls = planted.CALLS["process"]
    result = CliRunner().invoke(_app(), ["datasheet", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert planted.CALLS["process"] == calls  # no model or stage ran
    assert {name: (run_dir / name).read_bytes() for name in NAMES} == first
    assert result.output.split() == [str(run_dir / name) for name in NAMES]


def test_usage_errors_exit_2(planted_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_app(), ["datasheet", str(tmp_path)])
    assert result.exit_code == 2
    assert "no manifest.json" in result.output
    answers = tmp_path / "answers.yaml"
    answers.write_text("nonsense: 1\n")
    result = runner.invoke(_app(), ["datasheet", str(planted_run), "--answers", str(answers)])
    assert result.exit_code == 2
    assert "unknown question id" in result.output
    result = runner.invoke(_app(), ["datasheet", str(planted_run), "--answers", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "is not a file" in result.output


def test_foundation_only_run_without_optional_columns(tmp_path: Path) -> None:
    data = make_demo(tmp_path / "demo")
    assert data
    config = parse_config({"stages": [{"name": "text.stats"}]})
    inputs = [str(tmp_path / "demo" / name) for name in ("texts.jsonl", "pairs.parquet", "photos")]
    output = tmp_path / "out"
    manifest = run(config, inputs, output).manifest
    write_datasheet(output)
    sheet = json.loads((output / "datasheet.json").read_text())
    assert sheet["counts"]["rows_kept"] == manifest["rows_kept"]
    assert sheet["duplicates"] == {}
    assert sheet["tags"] == []
    assert sheet["faces"] == {}
    assert [h["column"] for h in sheet["histograms"]] == ["text_alpha_ratio"]
    assert sheet["audit"]["flagged"] == []
    assert sum(sheet["modalities"].values()) == manifest["rows_kept"]
    assert (output / "README.md").read_text().startswith("---\n")


def test_run_with_nothing_kept(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["[toxic] one", "[toxic] two"]}), source)
    config = parse_config({"stages": [{"name": "testing.planted"}], "policy": {"rules": planted.POLICY[:1]}})
    run(config, [str(source)], tmp_path / "out")
    write_datasheet(tmp_path / "out")
    sheet = json.loads((tmp_path / "out" / "datasheet.json").read_text())
    assert sheet["counts"]["rows_kept"] == 0
    assert sheet["counts"]["rows_rejected"] == 2
    assert sheet["card"]["size_categories"] == ["n<1K"]
    assert sheet["warnings"] == [
        "the run kept no rows (of 2 read): there is nothing to train on; the removal reasons below say why"
    ]
    for name in ("README.md", "datasheet.md"):  # no document promises data that is safer to train on
        document = (tmp_path / "out" / name).read_text()
        assert "safer to train on" not in document
        assert "the run kept no rows" in document
    assert "kept <strong>no rows</strong>" in (tmp_path / "out" / "datasheet.html").read_text()


def test_audit_options(planted_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "copy"
    shutil.copytree(planted_run, run_dir)
    runner = CliRunner()
    result = runner.invoke(_app(), ["datasheet", str(run_dir), "--min-group-rows", "41"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "datasheet.json").read_text())["audit"]["flagged"] == []
    result = runner.invoke(_app(), ["datasheet", str(run_dir), "--disparity-factor", "20"])
    assert result.exit_code == 0, result.output
    flagged = json.loads((run_dir / "datasheet.json").read_text())["audit"]["flagged"]
    assert flagged == []  # blocklist:* removes muslim mentions at 10.9x: under 20x
    runner.invoke(_app(), ["datasheet", str(run_dir), "--disparity-factor", "10"])
    flagged = json.loads((run_dir / "datasheet.json").read_text())["audit"]["flagged"]
    assert [(f["group"], f["filter"]) for f in flagged] == [("muslim", "blocklist:*")]
