"""The output contract: columns, manifest, invariants, and loading with common tools."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from datahygiene.cli.demo import make_demo
from datahygiene.cli.main import app
from datahygiene.io.sink import RunDir
from datahygiene.reports.verify import check_invariants
from tests.helpers import run_inputs


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    make_demo(root / "data")
    result = run_inputs(
        [root / "data" / "texts.jsonl", root / "data" / "pairs.parquet", root / "data" / "photos"], root / "out"
    )
    assert result.exit_code == 0
    return root / "out"


def test_manifest_accounts_for_every_row(demo_run: Path) -> None:
    manifest = json.loads((demo_run / "manifest.json").read_text())
    assert manifest["rows_in"] == 26 + 15 + 5
    assert manifest["rows_in"] == manifest["rows_kept"] + manifest["rows_rejected"] + manifest["rows_quarantined"]
    assert sum(manifest["reject_reasons"].values()) >= manifest["rows_rejected"]
    for shard in manifest["shards"]:
        assert shard["rows_read"] == shard["rows_kept"] + shard["rows_rejected"] + shard["rows_quarantined"]
        for route in ("kept", "rejected", "quarantined"):
            on_disk = sum(pq.ParquetFile(demo_run / f["path"]).metadata.num_rows for f in shard["files"][route])
            assert on_disk == shard[f"rows_{route}"]
    assert len(manifest["config_sha256"]) == 64
    assert manifest["datahygiene_version"]
    assert manifest["models"][0]["stage"] == "text.stats"
    assert check_invariants(RunDir(demo_run), manifest) == []


def test_tampering_is_detected(demo_run: Path, tmp_path: Path) -> None:
    manifest = json.loads((demo_run / "manifest.json").read_text())
    entry = manifest["shards"][0]
    entry["rows_kept"] += 1
    errors = check_invariants(RunDir(demo_run), manifest)
    assert any("rows read != kept" in e for e in errors)


def test_columns_and_provenance_metadata(demo_run: Path) -> None:
    kept = pq.read_table(demo_run / "kept" / "part-00000.parquet")
    for column in ("id", "text", "image", "url", "license", "reject_reasons", "source_shard", "source_row"):
        assert column in kept.column_names
    assert all(reasons == [] for reasons in kept.column("reject_reasons").to_pylist())
    provenance = json.loads(kept.schema.metadata[b"datahygiene"])
    assert provenance["shard"]["fingerprint"]
    assert provenance["config_sha256"] == json.loads((demo_run / "manifest.json").read_text())["config_sha256"]
    rejected = pq.read_table(demo_run / "rejected").to_pylist()
    assert all(row["reject_reasons"] for row in rejected)


def test_loads_with_datasets_pandas_polars_duckdb(demo_run: Path) -> None:
    import datasets

    pairs = str(demo_run / "kept" / "part-00001.parquet")
    loaded = datasets.load_dataset("parquet", data_files=pairs, split="train")
    assert loaded.num_rows == pq.ParquetFile(pairs).metadata.num_rows
    assert loaded.features["image"].__class__.__name__ == "Image"
    assert loaded[0]["image"].size[0] > 0  # decoded as a PIL image
    frame = pd.read_parquet(demo_run / "rejected")
    assert len(frame) == json.loads((demo_run / "manifest.json").read_text())["rows_rejected"]
    assert pl.read_parquet(pairs).height == loaded.num_rows
    count = duckdb.sql(f"select count(*) from read_parquet('{demo_run}/kept/*.parquet', union_by_name=true)")
    assert count is not None
    assert count.fetchall() == [(json.loads((demo_run / "manifest.json").read_text())["rows_kept"],)]


def test_cli_run_inspect_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["make-demo", str(data)]).exit_code == 0
    result = runner.invoke(
        app, ["run", "configs/default.yaml", "-i", str(data / "texts.jsonl"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output
    inspected = runner.invoke(app, ["inspect", str(tmp_path / "o")])
    assert inspected.exit_code == 0
    assert "malformed_json" in inspected.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - name: toxicity.nope\n")
    failed = runner.invoke(app, ["run", str(bad), "-i", str(data / "texts.jsonl"), "-o", str(tmp_path / "o2")])
    assert failed.exit_code == 2
    assert "unknown stage 'toxicity.nope'" in failed.output
    assert "text.stats" in failed.output
    missing = runner.invoke(app, ["run", "-i", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o3")])
    assert missing.exit_code == 2
    assert "matches no file" in missing.output


def test_verify_catches_a_modified_file(demo_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    runner = CliRunner()
    clean = runner.invoke(app, ["verify", str(copy)])
    assert clean.exit_code == 0, clean.output
    target = copy / "kept" / "part-00000.parquet"
    table = pq.read_table(target)
    pq.write_table(table.slice(1), target)  # a row silently dropped after the run
    (copy / "kept" / "part-99999.parquet").write_bytes(target.read_bytes())
    tampered = runner.invoke(app, ["verify", str(copy)])
    assert tampered.exit_code == 1
    assert "sha256 differs" in tampered.output
    assert "not listed in the manifest" in tampered.output
