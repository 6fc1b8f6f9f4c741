"""Per-stage accounting: every step and stage sees every row once, the sums hold, the reports show it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.core.timing import ENGINE_STEPS, StageTimes
from datahygiene.engine.run import RunResult, run
from datahygiene.io.sink import RunDir
from datahygiene.reports.summary import stage_lines, summary_markdown
from tests.flows.data import config_dict, flow_config, make_inputs, write_config

SLEEP = 0.002
CONFIGURED = ("text.stats", "blocklist", "test.sleep", "dedup")
#: The steps of the thread that scores ahead of the commit (the order-free stages: those before dedup).
SCORING_STEPS = {"read", "decode", *CONFIGURED[:-1]}


def _config() -> dict[str, Any]:
    config = config_dict()
    config["stages"].insert(2, {"name": "test.sleep", "params": {"seconds": SLEEP}})
    return config


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def result(inputs: list[str], tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    out = run(flow_config(stages=_config()["stages"]), inputs, tmp_path_factory.mktemp("run") / "out")
    assert out.exit_code == 0
    return out


def _by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = [entry["stage"] for entry in entries]
    assert len(names) == len(set(names)), names
    return {entry["stage"]: entry for entry in entries}


def test_every_stage_and_step_counts_every_row_once(result: RunResult) -> None:
    manifest = result.manifest
    stages = _by_name(manifest["stages"])
    assert [name for name in stages if stages[name]["kind"] == "stage"] == list(CONFIGURED)  # pipeline order
    assert {name for name in stages if stages[name]["kind"] == "engine"} <= set(ENGINE_STEPS)
    for name in ("read", *CONFIGURED, "duplicate_ids", "policy", "write"):
        assert stages[name]["rows"] == manifest["rows_in"], name
        assert stages[name]["bytes"] > 0, name
        assert stages[name]["seconds"] >= 0, name
    # images are decoded for every row of the shards that have them (pairs, photos), never for the text shards
    image_shards = [e for e in manifest["shards"] if any(s["stage"] == "decode" for s in e["stages"])]
    assert {Path(e["shard"].split("#")[0]).name for e in image_shards} == {"pairs.parquet", "photos"}
    assert stages["decode"]["rows"] == sum(e["rows_read"] for e in image_shards) > 0
    # the first stage sees the batches as read; each later stage sees them with more columns
    assert stages["text.stats"]["bytes"] == stages["read"]["bytes"]
    sizes = [stages[name]["bytes"] for name in CONFIGURED]
    assert sizes[:-1] == sorted(sizes[:-1])
    # dedup looks at whole shards (it inherits signals): it gets the batches back from a spool file, whose
    # buffers (laid out anew by Arrow IPC) differ from the scored batches' by a few bytes, never by a column
    assert sizes[-1] == pytest.approx(sizes[-2], rel=0.01)
    assert sizes[0] < sizes[-1]


def test_rates_shard_sums_and_wall_time_agree(result: RunResult) -> None:
    manifest = result.manifest
    totals = StageTimes()
    for entry in manifest["shards"]:
        steps = _by_name(entry["stages"])
        assert steps["read"]["rows"] == entry["rows_read"]
        assert steps["write"]["rows"] == entry["rows_kept"] + entry["rows_rejected"] + entry["rows_quarantined"]
        # the scoring thread's steps and the committing thread's are each disjoint intervals inside the shard's
        # committing time (each rounded to the millisecond); the two threads overlap
        for group in (SCORING_STEPS, set(steps) - SCORING_STEPS):
            assert sum(steps[name]["seconds"] for name in group if name in steps) <= entry["seconds"] + 0.001 * (
                len(steps) + 1
            )
        totals.merge(entry["stages"])
    for expected, recorded in zip(totals.records(), manifest["stages"], strict=True):
        assert recorded == {**expected, "seconds": pytest.approx(expected["seconds"], abs=1e-6)}
    for entry in manifest["stages"]:
        if entry["seconds"] > 0:
            assert entry["rows_per_second"] == pytest.approx(entry["rows"] / entry["seconds"], abs=0.1)
    # the sleeping stage's time lands on it: at least one sleep per batch, and its batches hold every row
    assert _by_name(manifest["stages"])["test.sleep"]["seconds"] >= SLEEP * len(manifest["shards"])


def test_committed_records_carry_the_shard_accounting(result: RunResult) -> None:
    records = RunDir(result.output).committed()
    for entry in result.manifest["shards"]:
        assert records[entry["index"]]["stages"] == entry["stages"]


def test_summary_lines_table_and_markdown(result: RunResult) -> None:
    lines = stage_lines(result.manifest)
    assert [line.stage for line in lines] == [e["stage"] for e in result.manifest["stages"]]
    assert sum(line.share for line in lines) == pytest.approx(1.0)
    markdown = summary_markdown(result.manifest, result.output)
    assert "## Time by stage" in markdown
    for name in CONFIGURED:
        assert f"| `{name}` |" in markdown
    assert "| read |" in markdown
    assert "| write |" in markdown


def test_run_and_inspect_print_the_table(inputs: list[str], tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml")
    output = tmp_path / "out"
    cli = CliRunner()
    env = {"COLUMNS": "200"}
    ran = cli.invoke(app, ["run", str(config), "-i", inputs[0], "-o", str(output), "--no-datasheet"], env=env)
    assert ran.exit_code == 0, ran.output
    shown = cli.invoke(app, ["inspect", str(output)], env=env)
    assert shown.exit_code == 0, shown.output
    for output_text in (ran.output, shown.output):
        table = output_text.partition("time by stage")[2]
        for name in ("read", "text.stats", "blocklist", "dedup", "policy", "write"):
            assert f" {name} " in table, (name, output_text)
