"""Issue 16 with the run folder in a bucket: verify trusts no path or count, output inside the input is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.io.rundir import RunDir
from datahygiene.io.storage import Store
from datahygiene.reports.verify import verify_run

CONFIG = "batch_size: 100\nstages:\n  - name: text.stats\npolicy:\n  rules:\n    - {when: 'text_words > 3'}\n"


def _invoke(*arguments: str) -> Any:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "300"})


@pytest.fixture
def s3_run(bucket: str, tmp_path: Path) -> tuple[str, Path]:
    """A finished run in ``BUCKET/run`` read from ``BUCKET/in``, and the config file."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    lines = [json.dumps({"id": f"r{i}", "text": "word " * (i + 1)}) for i in range(6)]
    Store.open(f"{bucket}/in").put_bytes("a.jsonl", ("\n".join(lines) + "\n").encode())
    result = _invoke("run", str(config), "--no-datasheet", "-i", f"{bucket}/in", "-o", f"{bucket}/run")
    assert result.exit_code == 0, result.output
    return f"{bucket}/run", config


def _edit_manifest(url: str, edit: Any) -> None:
    store = Store.open(url)
    manifest = json.loads(store.read_bytes("manifest.json"))
    edit(manifest)
    store.put_bytes("manifest.json", json.dumps(manifest).encode())


def test_verify_in_a_bucket_refuses_paths_outside_the_run_and_edited_counts(
    s3_run: tuple[str, Path], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = s3_run
    assert verify_run(RunDir.at(url)) == []
    store = Store.open(bucket)
    store.put_bytes("other/kept/part-00000.parquet", Store.open(url).read_bytes("kept/part-00000.parquet"))

    def escape(manifest: dict[str, Any]) -> None:
        manifest["shards"][0]["files"]["kept"][0]["path"] = "kept/../../other/kept/part-00000.parquet"
        manifest["rows_kept"] += 1

    _edit_manifest(url, escape)
    opened: list[str] = []
    real_open = Store.open_read

    def recording_open(self: Store, relative: str) -> Any:
        opened.append(relative)
        return real_open(self, relative)

    monkeypatch.setattr(Store, "open_read", recording_open)
    errors = verify_run(RunDir.at(url))
    assert any("kept/../../other/kept/part-00000.parquet: outside the run's kept/ folder" in e for e in errors)
    assert any("rows_kept" in e for e in errors), errors
    assert not [name for name in opened if ".." in name], opened
    result = _invoke("verify", url)
    assert result.exit_code == 1, result.output
    assert "outside the run's kept/ folder" in result.output


def test_an_output_inside_an_input_folder_in_a_bucket_is_refused(s3_run: tuple[str, Path], bucket: str) -> None:
    _, config = s3_run
    result = _invoke("run", str(config), "-i", f"{bucket}/in", "-o", f"{bucket}/in/out")
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert output.startswith("error: "), output
    assert "\n" not in output, output
    assert "inside the input" in output, output
    assert not Store.open(f"{bucket}/in/out").listing(), "nothing was written"
    beside = _invoke("run", str(config), "--no-datasheet", "-i", f"{bucket}/in/a.jsonl", "-o", f"{bucket}/in2")
    assert beside.exit_code == 0, beside.output


def test_a_commit_that_fails_in_a_bucket_fails_that_shard_alone_and_leaves_no_stray_object(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = []
    for name in ("a", "b", "c"):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": f"{name}{i}", "text": f"text {name} {i}"}) + "\n" for i in range(3)))
        inputs.append(path)
    real_put = Store.put_bytes

    def put_bytes(self: Store, relative: str, data: bytes) -> None:
        if relative == "_commits/00001.json":
            raise OSError(28, "No space left on device")
        real_put(self, relative, data)

    monkeypatch.setattr(Store, "put_bytes", put_bytes)
    url = f"{bucket}/run"
    arguments = ["run", "configs/minimal.yaml", "--no-datasheet", *(f"--input={p}" for p in inputs), "-o", url]
    result = _invoke(*arguments)
    assert result.exit_code == 1, result.output
    store = Store.open(url)
    manifest = json.loads(store.read_bytes("manifest.json"))
    assert [shard["status"] for shard in manifest["shards"]] == ["committed", "failed", "committed"]
    assert "No space left on device" in manifest["shards"][1]["error"]
    assert not [name for name in store.listing() if "00001" in name], store.listing()  # the parts were taken back
    assert verify_run(RunDir.at(url)) == []
    monkeypatch.undo()
    resumed = _invoke(*arguments, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(store.read_bytes("manifest.json"))["rows_in"] == 9
