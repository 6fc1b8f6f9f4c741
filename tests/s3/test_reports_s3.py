"""inspect, trace, datasheet and ``--dedup-index`` with URLs, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.io.storage import Store
from tests.s3 import dedup_config

CONFIG = dedup_config(100)


def _shard(store: Store, name: str, ids: list[str], texts: list[str]) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ids, "text": texts}), sink)
    store.put_bytes(name, sink.getvalue().to_pybytes())


def test_reports_and_a_cross_run_dedup_index_in_a_bucket(bucket: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    data = Store.open(f"{bucket}/in")
    night_one = [f"the harbour at night number {n} with boats and gulls" for n in range(30)]
    _shard(data, "one.parquet", [f"a{n}" for n in range(30)], night_one)
    _shard(data, "two.parquet", [f"b{n}" for n in range(30)], [*night_one[:10], *(f"new line {n}" for n in range(20))])
    runner = CliRunner()
    index = f"{bucket}/dedup-index"
    common = [str(config), "--no-datasheet", "--dedup-index", index]

    first = runner.invoke(app, ["run", *common, "-i", f"{bucket}/in/one.parquet", "-o", f"{bucket}/night1"])
    assert first.exit_code == 0, first.output
    assert Store.open(index).exists("manifest.json")
    second = runner.invoke(app, ["run", *common, "-i", f"{bucket}/in/two.parquet", "-o", f"{bucket}/night2"])
    assert second.exit_code == 0, second.output
    manifest = json.loads(Store.open(f"{bucket}/night2").read_bytes("manifest.json"))
    assert manifest["reject_reasons"] == {"duplicate:exact": 10}, "night two drops what night one kept"
    assert len(json.loads(Store.open(index).read_bytes("manifest.json"))["segments"]) == 2

    inspect = runner.invoke(app, ["inspect", f"{bucket}/night2"])
    assert inspect.exit_code == 0, inspect.output
    assert "duplicate:exact" in inspect.output
    traced = runner.invoke(app, ["trace", f"{bucket}/night2", "b3"])
    assert traced.exit_code == 0, traced.output
    assert f"rejected (duplicate:exact) in {bucket}/night2/rejected/part-00000.parquet" in traced.output
    assert "unchanged since the run" in traced.output
    sheet = runner.invoke(app, ["datasheet", f"{bucket}/night2"])
    assert sheet.exit_code == 0, sheet.output
    assert f"{bucket}/night2/datasheet.md" in sheet.output.split()
    assert b"duplicate" in Store.open(f"{bucket}/night2").read_bytes("datasheet.md")
    missing = runner.invoke(app, ["inspect", f"{bucket}/nothing"])
    assert missing.exit_code == 2
