"""The flow's partitioned mode: dedup as a phase of tasks, shards committed in parallel, same files as the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from flows.hygiene import HygieneParams, TaskRunnerSettings, hygiene

from datahygiene.core.config import load_config
from datahygiene.engine.run import run
from tests.flows.data import (
    comparable_manifest,
    config_dict,
    kill_flow_after_first_commit,
    make_inputs,
    output_files,
    write_config,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def cli_reference(inputs: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    result = run(load_config(write_config(root / "config.yaml")), inputs, root / "out", write_documents=False)
    assert result.exit_code == 0
    reasons = result.manifest["reject_reasons"]
    assert reasons.get("duplicate:exact", 0) >= 3
    assert reasons.get("duplicate:near", 0) >= 3
    assert reasons.get("duplicate_id", 0) >= 3
    return root / "out"


def partitioned(**extra: Any) -> TaskRunnerSettings:
    return TaskRunnerSettings(kind="threads", workers=2, partitioned=True, partitions=3, **extra)


def test_partitioned_flow_writes_the_cli_files(
    prefect_server: str, inputs: list[str], cli_reference: Path, tmp_path: Path
) -> None:
    output = tmp_path / "flow"
    run_params = HygieneParams(
        inputs=inputs, output=str(output), config=config_dict(), write_datasheet=False, task_runner=partitioned()
    )
    summary = hygiene(run_params)
    assert summary["committed_now"] == list(range(len(inputs)))
    assert output_files(output) == output_files(cli_reference)
    assert comparable_manifest(output) == comparable_manifest(cli_reference)
    assert all((output / "_state" / f"{i:05d}" / "partitioned.json").exists() for i in range(len(inputs)))
    assert not (output / "_tmp" / "phase").exists()
    assert not list((output / "_tmp").glob("scored/*"))


def _representatives(index: Path) -> list[str]:
    ids: list[str] = []
    for name in json.loads((index / "manifest.json").read_text())["segments"]:
        with np.load(index / name) as segment:
            data, offsets = segment["ids_data"].tobytes(), segment["ids_offsets"].tolist()
            ids += [data[a:b].decode() for a, b in itertools.pairwise(offsets)]
    return ids


def test_killed_partitioned_flow_resumes_and_commits_every_shard_once(
    prefect_server: str, inputs: list[str], tmp_path: Path
) -> None:
    config_path = write_config(tmp_path / "slow.yaml", plugins=["tests.flows.data"])
    slow = load_config(config_path).model_dump(mode="json")
    slow["stages"].append({"name": "test.sleep", "params": {"seconds": 0.1}})  # after dedup: in the commit tasks
    config_path.write_text(yaml.safe_dump(slow))
    index = tmp_path / "dedup-index"
    reference = run(load_config(config_path), inputs, tmp_path / "reference", dedup_index=index, write_documents=False)
    assert reference.exit_code == 0
    reference_reps = _representatives(index)
    index.rename(tmp_path / "reference-index")

    killed = tmp_path / "killed"
    first_commits = kill_flow_after_first_commit(
        config_path, inputs, killed, index, prefect_server, "--partitioned", wait=180
    )
    assert (killed / "_tmp" / "phase" / "phase.json").exists()
    assert not index.exists()

    again = HygieneParams(
        inputs=inputs,
        output=str(killed),
        config_path=str(config_path),
        dedup_index=str(index),
        write_datasheet=False,
        task_runner=TaskRunnerSettings(kind="threads", workers=1),  # resumes partitioned: the phase is done
    )
    resumed = hygiene(again)
    committed_before = sorted(int(name.split(".")[0]) for name in first_commits)
    assert resumed["committed_now"] == [i for i in range(len(inputs)) if i not in committed_before]
    for name, mtime in first_commits.items():
        assert (killed / "_commits" / name).stat().st_mtime_ns == mtime
    assert output_files(killed) == output_files(tmp_path / "reference")
    assert comparable_manifest(killed) == comparable_manifest(tmp_path / "reference")
    assert _representatives(index) == reference_reps
    assert hygiene(again)["committed_now"] == []


def test_a_keep_rule_commits_serially_with_the_cli_files(
    prefect_server: str, inputs: list[str], tmp_path: Path
) -> None:
    """dedup with ``keep: largest`` looks at whole shards, which the phase does not: the flow commits serially."""
    config = config_dict()
    config["stages"][-1] = {"name": "dedup", "params": {"keep": "largest"}}
    config_path = tmp_path / "largest.yaml"
    config_path.write_text(yaml.safe_dump(config))
    reference = run(load_config(config_path), inputs, tmp_path / "cli", write_documents=False)
    assert reference.exit_code == 0
    output = tmp_path / "flow"
    run_params = HygieneParams(
        inputs=inputs, output=str(output), config=config, write_datasheet=False, task_runner=partitioned()
    )
    assert hygiene(run_params)["committed_now"] == list(range(len(inputs)))
    assert output_files(output) == output_files(tmp_path / "cli")
    assert comparable_manifest(output) == comparable_manifest(tmp_path / "cli")
    assert not any((output / "_state" / f"{i:05d}" / "partitioned.json").exists() for i in range(len(inputs)))
