"""The flow's partitioned mode: dedup as a phase of tasks, shards committed in parallel, same files as the CLI."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from flows.hygiene import HygieneParams, TaskRunnerSettings, hygiene

from datahygiene.core.config import load_config, parse_config
from datahygiene.engine.run import run
from tests.flows.data import (
    comparable_manifest,
    config_dict,
    kill_flow_after_first_commit,
    make_inputs,
    make_rights_inputs,
    output_files,
    rights_config,
    write_config,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("inputs")
    return make_inputs(folder) + make_rights_inputs(folder / "rights")


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
    """With a ``keep`` rule and inherited signals: the commit tasks amend the kept rows, before and after the kill."""
    slow = {**rights_config("most_metadata"), "plugins": ["tests.flows.data"]}
    slow["stages"].append({"name": "test.sleep", "params": {"seconds": 0.1}})  # after dedup: in the commit tasks
    config_path = tmp_path / "slow.yaml"
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


def _inherited(directory: Path) -> list[str]:
    """The ids of kept rows whose evidence names a duplicate they inherited a signal from."""
    table = pq.read_table(directory / "kept", columns=["id", "copyright_evidence", "synthetic_evidence"])
    return sorted(
        row["id"]
        for row in table.to_pylist()
        if any("duplicate r" in str(e.get("source")) for e in row["copyright_evidence"] or [])
        or any("from duplicate r" in e for e in row["synthetic_evidence"] or [])
    )


@pytest.mark.parametrize(
    ("keep", "dedup"),
    [("first", {}), ("largest", {}), ("most_metadata", {}), ("score", {"keep_score": "text_alpha_ratio"})],
)
def test_keep_rules_and_inherited_signals_run_partitioned_with_the_cli_files(
    prefect_server: str, inputs: list[str], tmp_path: Path, keep: str, dedup: dict[str, Any]
) -> None:
    """Rights and provenance stages before dedup, a ``keep`` rule: the phase decides and the commit tasks write
    the CLI's files, kept rows carrying their same-shard duplicates' signals (a cluster also spans two shards)."""
    config = rights_config(keep, **dedup)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    reference = run(load_config(config_path), inputs, tmp_path / "cli", write_documents=False)
    assert reference.exit_code == 0
    inherited = _inherited(tmp_path / "cli")
    assert len(inherited) >= 3, inherited  # one cluster per rights shard
    output = tmp_path / "flow"
    run_params = HygieneParams(
        inputs=inputs, output=str(output), config=config, write_datasheet=False, task_runner=partitioned()
    )
    assert hygiene(run_params)["committed_now"] == list(range(len(inputs)))
    assert all((output / "_state" / f"{i:05d}" / "partitioned.json").exists() for i in range(len(inputs)))
    assert output_files(output) == output_files(tmp_path / "cli")
    assert comparable_manifest(output) == comparable_manifest(tmp_path / "cli")
    assert _inherited(output) == inherited


def test_semantic_dedup_with_embeddings_commits_serially_with_the_reason_logged(
    inputs: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the phase does not partition falls back to the serial commit, saying why."""
    from datahygiene.core.stage import ChainSummary
    from datahygiene.engine import phase_run
    from datahygiene.engine.plan import plan_run

    config = rights_config()
    config["stages"][-1]["params"]["semantic"] = {"enabled": True, "artifact": "clip_image_embeddings"}
    plan = plan_run(parse_config(config), inputs[:1], tmp_path / "out")
    scoring = ChainSummary(artifacts=(("clip_image_embeddings", "embeddings"),))
    with caplog.at_level(logging.WARNING, logger="datahygiene.engine.phase_run"):
        assert phase_run.find_phase(plan, scoring, 2) is None
    assert "semantic dedup" in caplog.text
    assert "committing serially" in caplog.text
    assert phase_run.find_phase(plan, ChainSummary(), 2) is not None
