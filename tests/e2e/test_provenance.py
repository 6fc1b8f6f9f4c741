"""Provenance of the output: every file names its input shard, config, version, models and policy,
and `datahygiene verify` catches edited, deleted and re-labelled files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from datahygiene import __version__
from datahygiene.cli.main import app
from datahygiene.io.sink import PROVENANCE_KEY, RunDir, file_provenance, sha256_file
from datahygiene.reports.trace import trace
from datahygiene.reports.verify import verify_run
from tests.helpers import run_inputs


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("provenance")
    for name, words in (("a.jsonl", "alpha"), ("b.jsonl", "beta")):
        lines = [json.dumps({"id": f"{name}-{i}", "text": f"{words} " * (i + 1)}) for i in range(6)]
        (root / name).write_text("\n".join(lines) + "\n")
    # rows with more than 3 words are rejected, so every shard writes a kept and a rejected file
    result = run_inputs(
        [root / "a.jsonl", root / "b.jsonl"],
        root / "out",
        'policy.rules=[{"when": "text_words > 3"}]',
        write_documents=False,
    )
    assert result.exit_code == 0
    return root / "out"


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def test_a_kept_row_traces_back_to_its_source_shard_and_row(small_run: Path) -> None:
    manifest = json.loads((small_run / "manifest.json").read_text())
    kept = small_run / "kept" / "part-00001.parquet"
    provenance = file_provenance(kept)
    assert provenance["version"] == __version__
    assert provenance["config_sha256"] == manifest["config_sha256"]
    assert provenance["models"] == manifest["models"]
    assert provenance["policy"] == [{"when": "text_words > 3", "action": "reject", "reason": None}]
    shard = provenance["shard"]
    entry = manifest["shards"][shard["index"]]
    assert (shard["id"], shard["fingerprint"]) == (entry["shard"], entry["fingerprint"])
    assert Path(shard["id"]).name == "b.jsonl"
    # the file alone is enough to find the input line each row came from
    source_lines = Path(shard["id"]).read_text().splitlines()
    rows = pq.read_table(kept).to_pylist()
    assert [row["id"] for row in rows] == ["b.jsonl-0", "b.jsonl-1", "b.jsonl-2"]
    for row in rows:
        assert row["source_shard"] == shard["id"]
        assert json.loads(source_lines[row["source_row"]])["text"] == row["text"]
        assert row["reject_reasons"] == []


def test_verify_accepts_an_untouched_run(small_run: Path) -> None:
    assert verify_run(RunDir(small_run)) == []
    result = CliRunner().invoke(app, ["verify", str(small_run)])
    assert result.exit_code == 0, result.output


def test_verify_catches_an_edited_file(small_run: Path, tmp_path: Path) -> None:
    run = _copy(small_run, tmp_path)
    target = run / "kept" / "part-00000.parquet"
    table = pq.read_table(target)
    edited = table.set_column(table.schema.get_field_index("text"), "text", pa.array(["changed"] * table.num_rows))
    pq.write_table(edited, target)  # same rows, same provenance metadata, different content
    shard = json.loads((run / "manifest.json").read_text())["shards"][0]["shard"]
    assert verify_run(RunDir(run)) == [f"{shard}: kept/part-00000.parquet sha256 differs from the manifest"]
    result = CliRunner().invoke(app, ["verify", str(run)])
    assert result.exit_code == 1
    assert "sha256 differs" in result.output


def test_verify_catches_a_deleted_file(small_run: Path, tmp_path: Path) -> None:
    run = _copy(small_run, tmp_path)
    (run / "rejected" / "part-00001.parquet").unlink()
    errors = verify_run(RunDir(run))
    assert any("missing output file rejected/part-00001.parquet" in e for e in errors)
    assert any("rejected files hold 0 rows" in e for e in errors)
    assert CliRunner().invoke(app, ["verify", str(run)]).exit_code == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("config_sha256", "0" * 64, "config hash"),
        ("version", "0.0.0-forged", "package version"),
        ("models", [], "models"),
        ("policy", [], "policy"),
        ("shard.id", "elsewhere.jsonl", "input shard id"),
        ("shard.fingerprint", "f" * 64, "input shard fingerprint"),
    ],
)
def test_verify_catches_tampered_metadata_even_with_a_matching_hash(
    small_run: Path, tmp_path: Path, field: str, value: object, message: str
) -> None:
    """Rewrite a file's provenance and fix its sha256 in the manifest: the metadata check still fails."""
    run = _copy(small_run, tmp_path)
    target = run / "kept" / "part-00000.parquet"
    table = pq.read_table(target)
    provenance = file_provenance(target)
    node = provenance
    *parents, last = field.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    metadata = {**(table.schema.metadata or {}), PROVENANCE_KEY: json.dumps(provenance).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), target)
    manifest_path = run / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["shards"][0]["files"]["kept"][0]["sha256"] = sha256_file(target)
    manifest_path.write_text(json.dumps(manifest))
    assert verify_run(RunDir(run)) == [f"kept/part-00000.parquet: {message} in the file differs from the manifest"]


def test_verify_catches_a_file_without_provenance(small_run: Path, tmp_path: Path) -> None:
    run = _copy(small_run, tmp_path)
    target = run / "kept" / "part-00000.parquet"
    pq.write_table(pq.read_table(target).replace_schema_metadata({}), target)
    errors = verify_run(RunDir(run))
    assert "kept/part-00000.parquet: no datahygiene provenance in the Parquet metadata" in errors


def test_trace_command_names_input_row_run_and_verdict(small_run: Path) -> None:
    runner = CliRunner()
    kept = runner.invoke(app, ["trace", str(small_run), "b.jsonl-1"])
    assert kept.exit_code == 0, kept.output
    lines = kept.output.splitlines()
    assert lines[0] == "b.jsonl-1: kept (no reasons) in kept/part-00001.parquet"
    assert lines[1].endswith("b.jsonl (jsonl), row 1")
    assert lines[2].startswith("  input: unchanged since the run")
    manifest = json.loads((small_run / "manifest.json").read_text())
    assert f"config sha256 {manifest['config_sha256']}, 1 policy rules" in lines[3]
    assert "  text_words = 2" in lines
    rejected = runner.invoke(app, ["trace", str(small_run), "a.jsonl-5"])
    assert rejected.output.splitlines()[0] == "a.jsonl-5: rejected (text_words>3) in rejected/part-00000.parquet"
    missing = runner.invoke(app, ["trace", str(small_run), "nope"])
    assert missing.exit_code == 1


def test_trace_notices_a_changed_or_missing_input(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "x", "text": "hello there"}) + "\n")
    assert run_inputs([source], tmp_path / "out", write_documents=False).exit_code == 0
    (row,) = trace(tmp_path / "out", "x")
    assert (row.route, row.source_row, row.input_status) == ("kept", 0, "unchanged")
    source.write_text(json.dumps({"id": "x", "text": "hello there, edited"}) + "\n")
    assert trace(tmp_path / "out", "x")[0].input_status == "changed"
    source.unlink()
    assert trace(tmp_path / "out", "x")[0].input_status == "missing"
