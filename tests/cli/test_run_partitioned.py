"""``datahygiene run-partitioned`` (old name ``dedup-distributed``): the flow's dedup phase, the files of ``run``."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.core.config import parse_config
from datahygiene.engine.phase_local import run_partitioned
from datahygiene.engine.run import run
from tests.flows.data import (
    comparable_manifest,
    config_dict,
    make_inputs,
    make_rights_inputs,
    output_files,
    rights_config,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Text shards with duplicates across shards, the demo's texts and photos (pictures with copies)."""
    return make_inputs(tmp_path_factory.mktemp("inputs"))


def _args(inputs: list[str]) -> list[str]:
    return [arg for path in inputs for arg in ("-i", path)]


def _config(path: Path, config: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_the_command_writes_the_files_of_run(inputs: list[str], tmp_path: Path) -> None:
    """Text and pictures: the same Parquet bytes and manifest as ``run``; ``verify`` accepts it; a datasheet."""
    config = _config(tmp_path / "config.yaml", config_dict())
    _invoke("run", *_args(inputs), "-o", str(tmp_path / "run"), config, "--no-datasheet")
    reasons = json.loads((tmp_path / "run" / "manifest.json").read_text())["reject_reasons"]
    assert reasons.get("duplicate:exact", 0) >= 3
    assert reasons.get("duplicate:near", 0) >= 3
    out = tmp_path / "partitioned"
    _invoke("dedup-distributed", *_args(inputs), "-o", str(out), config, "--partitions", "3")
    assert output_files(out) == output_files(tmp_path / "run")
    assert comparable_manifest(out) == comparable_manifest(tmp_path / "run")
    assert all((out / "_state" / f"{i:05d}" / "partitioned.json").exists() for i in range(len(inputs)))
    assert (out / "datasheet.md").exists()
    assert not (out / "_tmp" / "phase").exists()
    assert not list((out / "_tmp").glob("scored/*"))
    verified = CliRunner().invoke(app, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    again = _invoke("run-partitioned", *_args(inputs), "-o", str(out), config, "--resume")
    assert "already holds this run" in again.output


def _representatives(index: Path) -> list[str]:
    ids: list[str] = []
    for name in json.loads((index / "manifest.json").read_text())["segments"]:
        with np.load(index / name) as segment:
            data, offsets = segment["ids_data"].tobytes(), segment["ids_offsets"].tolist()
            ids += [data[a:b].decode() for a, b in itertools.pairwise(offsets)]
    return ids


def test_dedup_index_keep_rules_and_inherited_signals_across_two_runs(tmp_path: Path) -> None:
    """A second run against the first's ``--dedup-index``, a ``keep`` rule and rights signals inherited by kept
    rows: the same files and the same index as two ``run`` commands."""
    first = make_rights_inputs(tmp_path / "night-1", shards=3)
    second = make_rights_inputs(tmp_path / "night-2", shards=4)  # the same generator: its first shards repeat
    config = _config(tmp_path / "config.yaml", rights_config("most_metadata"))
    index = tmp_path / "index"  # one path: the files record it
    for command, name in (("run", "run"), ("run-partitioned", "part")):
        for night, shards in (("1", first), ("2", second)):
            output = str(tmp_path / f"{name}-{night}")
            _invoke(command, *_args(shards), "-o", output, config, "--dedup-index", str(index), "--no-datasheet")
        index.rename(tmp_path / f"{name}-index")
    for night in ("1", "2"):
        assert output_files(tmp_path / f"part-{night}") == output_files(tmp_path / f"run-{night}")
        assert comparable_manifest(tmp_path / f"part-{night}") == comparable_manifest(tmp_path / f"run-{night}")
    reasons = json.loads((tmp_path / "run-2" / "manifest.json").read_text())["reject_reasons"]
    first_reasons = json.loads((tmp_path / "run-1" / "manifest.json").read_text())["reject_reasons"]
    assert "duplicate:exact" not in first_reasons
    assert reasons["duplicate:exact"] >= 25  # the second night's repeats of the first matched the index
    assert _representatives(tmp_path / "part-index") == _representatives(tmp_path / "run-index")


def test_a_config_the_phase_cannot_decide_is_committed_serially_saying_why(
    inputs: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No stateful stage to partition: the streaming commit, the reason logged, still the files of ``run``."""
    config = config_dict()
    config["stages"] = config["stages"][:-1]
    config["policy"]["rules"] = config["policy"]["rules"][:-1]
    parsed = parse_config(config)
    reference = run(parsed, inputs[:2], tmp_path / "run", write_documents=False)
    with caplog.at_level(logging.INFO, logger="datahygiene.engine.phase_run"):
        result = run_partitioned(parsed, inputs[:2], tmp_path / "part", write_documents=False)
    assert "no partitioned phase" in caplog.text
    assert "committing serially" in caplog.text
    assert result.exit_code == reference.exit_code == 0
    assert output_files(tmp_path / "part") == output_files(tmp_path / "run")
    assert not (tmp_path / "part" / "_state" / "00000" / "partitioned.json").exists()


def test_bad_options_fail_in_one_line(inputs: list[str], tmp_path: Path) -> None:
    bad = CliRunner().invoke(
        app, ["run-partitioned", *_args(inputs[:1]), "-o", str(tmp_path / "o"), "--set", "dedup.nope=1"]
    )
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == ["error: unknown key 'dedup'"]
    old = CliRunner().invoke(app, ["dedup-distributed", inputs[0], "--work", str(tmp_path)])
    assert old.exit_code == 2  # the old spelling is refused by the option parser, not half-run


@pytest.mark.slow
def test_worker_processes_write_the_same_files(inputs: list[str], tmp_path: Path) -> None:
    """Scoring, the phase's steps and the commits on two spawned worker processes."""
    parsed = parse_config(config_dict())
    reference = run(parsed, inputs, tmp_path / "run", write_documents=False)
    result = run_partitioned(parsed, inputs, tmp_path / "pool", workers=2, write_documents=False)
    assert result.exit_code == reference.exit_code == 0
    assert output_files(tmp_path / "pool") == output_files(tmp_path / "run")
    assert comparable_manifest(tmp_path / "pool") == comparable_manifest(tmp_path / "run")


def test_a_shard_that_fails_its_commit_is_committed_by_the_resumed_run(inputs: list[str], tmp_path: Path) -> None:
    """The resumed run keeps the phase's decisions (``OUTPUT/_tmp/phase``) and commits only the failed shard."""
    counter = tmp_path / "calls"
    config = {**config_dict(), "plugins": ["tests.flows.data"]}
    config["stages"].append({"name": "test.flaky", "params": {"counter": str(counter), "error": "bug"}})
    parsed = parse_config(config)
    counter.write_text("1")  # the reference run's stage is past its one failure
    reference = run(parsed, inputs, tmp_path / "run", write_documents=False)
    assert reference.exit_code == 0
    counter.unlink()
    first = run_partitioned(parsed, inputs, tmp_path / "part", write_documents=False)
    assert len(first.failed_shards) == 1  # the first commit task's first batch failed (after dedup)
    assert (tmp_path / "part" / "_tmp" / "phase" / "phase.json").exists()
    resumed = run_partitioned(parsed, inputs, tmp_path / "part", resume=True, write_documents=False)
    assert resumed.exit_code == 0
    assert output_files(tmp_path / "part") == output_files(tmp_path / "run")
    assert comparable_manifest(tmp_path / "part") == comparable_manifest(tmp_path / "run")
    assert not (tmp_path / "part" / "_tmp" / "phase").exists()
