"""``verify`` trusts nothing in the manifest: every count is checked against the files, no path leaves the run
(issue 16: 6)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.io.sink import RunDir
from datahygiene.reports.verify import verify_run
from tests.helpers import run_inputs


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify")
    for name in ("a.jsonl", "b.jsonl"):
        lines = [json.dumps({"id": f"{name}-{i}", "text": "word " * (i + 1)}) for i in range(6)]
        (root / name).write_text("\n".join([*lines, "{broken"]) + "\n")
    result = run_inputs([root / "a.jsonl", root / "b.jsonl"], root / "out", 'policy.rules=[{"when": "text_words > 3"}]')
    assert result.exit_code == 0
    return root / "out"


def _edited(small_run: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    edit(manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_the_untouched_run_verifies(small_run: Path) -> None:
    assert verify_run(RunDir(small_run)) == []


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        node: Any = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value(node[path[-1]]) if callable(value) else value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set(["rows_kept"], lambda v: v + 1), "rows_kept"),
        (_set(["rows_in"], lambda v: v - 1), "rows_in"),
        (_set(["rows_rejected_by_runner"], lambda v: v + 1), "rows_rejected_by_runner"),
        (_set(["reject_reasons", "text_words>3"], lambda v: v + 1), "reject_reasons"),
        (_set(["reject_reasons", "made_up"], 4), "reject_reasons"),
        (_set(["shards_committed"], 1), "shards_committed"),
        (_set(["shards_total"], 3), "shards_total"),
        (_set(["shards", 0, "reject_reasons", "malformed_json"], 2), "malformed_json"),
    ],
)
def test_an_edited_count_is_caught(
    small_run: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    errors = verify_run(RunDir(_edited(small_run, tmp_path, edit)))
    assert errors, "the edit went unnoticed"
    assert any(expected in error for error in errors), errors


def test_paths_outside_the_run_are_refused_unopened(
    small_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(small_run, tmp_path / "other")  # same bytes and hashes, but not this run's files

    def escape(manifest: dict[str, Any]) -> None:
        manifest["shards"][0]["files"]["kept"][0]["path"] = "../other/kept/part-00000.parquet"
        manifest["shards"][1]["files"]["rejected"][0]["path"] = "../../../../../../etc/passwd"

    run = _edited(small_run, tmp_path, escape)
    opened: list[Path] = []
    real_open, real_sha256 = RunDir.open_read, RunDir.sha256

    def recording_open(self: RunDir, relative: str) -> Any:
        opened.append(self.root / relative)
        return real_open(self, relative)

    def recording_sha256(self: RunDir, relative: str) -> str:
        opened.append(self.root / relative)
        return real_sha256(self, relative)

    monkeypatch.setattr(RunDir, "open_read", recording_open)
    monkeypatch.setattr(RunDir, "sha256", recording_sha256)
    errors = verify_run(RunDir(run))
    assert "kept/../other/kept/part-00000.parquet" not in " ".join(errors)
    assert any("../other/kept/part-00000.parquet: outside the run's kept/ folder" in e for e in errors), errors
    assert any("../../../../../../etc/passwd: outside the run's rejected/ folder" in e for e in errors), errors
    assert all(path.resolve().is_relative_to(run.resolve()) for path in opened)


def test_a_symlink_out_of_the_run_is_refused(small_run: Path, tmp_path: Path) -> None:
    run = _edited(small_run, tmp_path, lambda m: None)
    outside = tmp_path / "outside.parquet"
    shutil.copy(run / "kept" / "part-00000.parquet", outside)
    (run / "kept" / "part-00000.parquet").unlink()
    (run / "kept" / "part-00000.parquet").symlink_to(outside)
    errors = verify_run(RunDir(run))
    assert any("kept/part-00000.parquet: outside the run's kept/ folder" in e for e in errors), errors


@pytest.mark.parametrize(
    "manifest",
    [
        {"shards": [{"status": "committed"}]},
        {"shards": [{"status": "committed", "shard": "x", "rows_read": "many", "files": {"kept": "nope"}}]},
        {"shards": ["not an object"]},
        {"shards": []},
    ],
)
def test_a_malformed_manifest_is_reported_not_a_traceback(tmp_path: Path, manifest: dict[str, Any]) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert verify_run(RunDir(tmp_path))
    result = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "mismatch:" in result.output


def test_a_corrupt_manifest_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"shards": [')
    result = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:")
    assert "\n" not in result.output.strip()


def test_a_listed_file_that_is_not_parquet_is_reported(small_run: Path, tmp_path: Path) -> None:
    run = _edited(small_run, tmp_path, lambda m: None)
    (run / "kept" / "part-00000.parquet").write_bytes(b"not parquet at all")
    errors = verify_run(RunDir(run))
    assert any("kept/part-00000.parquet is not a readable Parquet file" in e for e in errors), errors


def test_a_manifest_that_is_a_folder_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    result = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"error: {tmp_path / 'manifest.json'} cannot be read: Is a directory"
