"""The Prefect flow: same rows as the CLI, Dask fan-out, transient-only retries, kill and resume, artifacts."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa
import pytest
import yaml
from distributed import LocalCluster
from flows.hygiene import HygieneParams, TaskRunnerSettings, hygiene, retry_if_transient, shard_label
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterId
from prefect.states import Completed, Failed

from datahygiene.core.config import load_config
from datahygiene.core.stage import StageContext
from datahygiene.engine.run import run
from datahygiene.engine.workers import ShardJob
from datahygiene.io.sources import ShardSource
from tests.conftest import REPO
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
    """``datahygiene run`` on the same inputs and config (without the datasheet, as the flows here)."""
    root = tmp_path_factory.mktemp("cli")
    config = load_config(write_config(root / "config.yaml"))
    result = run(config, inputs, root / "out", write_documents=False)
    assert result.exit_code == 0
    assert result.manifest["reject_reasons"].get("duplicate:exact", 0) >= 3
    return root / "out"


def params(inputs: list[str], output: Path, **extra: Any) -> HygieneParams:
    return HygieneParams(inputs=inputs, output=str(output), config=config_dict(), write_datasheet=False, **extra)


def test_flow_writes_the_same_rows_as_the_cli_and_reports_them(
    prefect_server: str, inputs: list[str], cli_reference: Path, tmp_path: Path
) -> None:
    state = hygiene(params(inputs, tmp_path / "flow"), return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert output_files(tmp_path / "flow") == output_files(cli_reference)
    assert comparable_manifest(tmp_path / "flow") == comparable_manifest(cli_reference)
    assert summary["committed_now"] == list(range(len(inputs)))

    flow_run_id = state.state_details.flow_run_id
    assert isinstance(flow_run_id, UUID)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    by_key = {artifact.key: artifact for artifact in artifacts}
    markdown = str(by_key["datahygiene-run-summary"].data)
    assert "duplicate:exact" in markdown
    assert "`dedup`" in markdown
    assert "datasheet: not written" in markdown
    assert by_key["datahygiene-progress"].data == 100.0
    names = {task_run.name for task_run in task_runs}
    for job_label in ("00000 text-0.parquet", "00006 photos#00000"):
        assert {f"score {job_label}", f"commit {job_label}"} <= names


def test_two_dask_workers_build_the_stages_once_each(
    prefect_server: str, inputs: list[str], cli_reference: Path, tmp_path: Path
) -> None:
    runner = TaskRunnerSettings(kind="dask", workers=2, dask_processes=True)
    summary = hygiene(params(inputs, tmp_path / "dask", task_runner=runner))
    assert output_files(tmp_path / "dask") == output_files(cli_reference)
    workers = summary["workers"]
    assert len(workers) == 2, workers
    assert sum(entry["shards"] for entry in workers.values()) == len(inputs)
    assert {entry["stage_builds"] for entry in workers.values()} == {1}
    assert all(f":{os.getpid()}" not in name for name in workers)  # scored in the workers, not here


def test_a_process_pool_builds_the_stages_once_per_process(
    prefect_server: str, inputs: list[str], cli_reference: Path, tmp_path: Path
) -> None:
    runner = TaskRunnerSettings(kind="processes", workers=2)
    summary = hygiene(params(inputs, tmp_path / "processes", task_runner=runner))
    assert output_files(tmp_path / "processes") == output_files(cli_reference)
    workers = summary["workers"]
    assert 1 <= len(workers) <= 2
    assert {entry["stage_builds"] for entry in workers.values()} == {1}
    assert all(f":{os.getpid()}" not in name for name in workers)


def test_an_existing_dask_scheduler_runs_the_shards(
    prefect_server: str, inputs: list[str], cli_reference: Path, tmp_path: Path
) -> None:
    cluster_options: dict[str, Any] = {"n_workers": 2, "processes": False, "dashboard_address": None}
    with LocalCluster(**cluster_options) as cluster:  # type: ignore[no-untyped-call]
        runner = TaskRunnerSettings(kind="dask", address=cluster.scheduler_address)
        summary = hygiene(params(inputs, tmp_path / "remote", task_runner=runner))
    assert output_files(tmp_path / "remote") == output_files(cli_reference)
    assert sum(entry["shards"] for entry in summary["workers"].values()) == len(inputs)


def _state_of(error: BaseException) -> Any:
    return Failed(data=error)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OSError(errno.EIO, "I/O error"), True),
        (OSError(errno.ESTALE, "stale NFS handle"), True),
        (TimeoutError("read timed out"), True),
        (ConnectionResetError("peer reset"), True),
        (FileNotFoundError(errno.ENOENT, "gone"), False),
        (PermissionError(errno.EACCES, "denied"), False),
        (OSError("Couldn't deserialize thrift: corrupt footer"), False),
        (pa.ArrowInvalid("Parquet magic bytes not found"), False),
        (ValueError("bad row"), False),
    ],
)
def test_retry_condition_retries_transient_errors_only(error: BaseException, transient: bool) -> None:
    assert retry_if_transient(None, None, _state_of(error)) is transient  # type: ignore[arg-type]
    assert retry_if_transient(None, None, Completed()) is False  # type: ignore[arg-type]


def test_transient_error_cause_is_followed() -> None:
    wrapped = RuntimeError("reading shard failed")
    wrapped.__cause__ = OSError(errno.ETIMEDOUT, "timed out")
    assert retry_if_transient(None, None, _state_of(wrapped)) is True  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "retried"), [("eio", True), ("bug", False)])
def test_a_flaky_shard_is_retried_a_buggy_one_is_not(
    prefect_server: str, inputs: list[str], tmp_path: Path, kind: str, retried: bool
) -> None:
    counter = tmp_path / "calls"
    config = config_dict(plugins=["tests.flows.data"])
    config["stages"].insert(0, {"name": "test.flaky", "params": {"counter": str(counter), "error": kind}})
    run_params = HygieneParams(
        inputs=inputs[:1], output=str(tmp_path / "out"), config=config, write_datasheet=False, retry_delay_seconds=0
    )
    state = hygiene(run_params, return_state=True)
    assert state.is_completed() is retried
    # 50 rows in batches of 16: 4 batches, plus the one that failed when the error was retried
    assert int(counter.read_text()) == (5 if retried else 1)
    if not retried:  # the failed shard is in the manifest; rerunning the flow (same process) redoes just it
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert manifest["shards_failed"] == 1
        assert hygiene(run_params)["committed_now"] == [0]
        assert int(counter.read_text()) == 5


def test_killed_flow_resumes_and_commits_every_shard_once(
    prefect_server: str, inputs: list[str], tmp_path: Path
) -> None:
    config_path = write_config(tmp_path / "slow.yaml", plugins=["tests.flows.data"])
    slow = load_config(config_path).model_dump(mode="json")
    slow["stages"].insert(2, {"name": "test.sleep", "params": {"seconds": 0.05}})
    config_path.write_text(yaml.safe_dump(slow))
    index = tmp_path / "dedup-index"  # the same path for both runs: it is recorded in the files' provenance
    reference = run(load_config(config_path), inputs, tmp_path / "reference", dedup_index=index, write_documents=False)
    assert reference.exit_code == 0
    reference_index = len(json.loads((index / "manifest.json").read_text())["segments"])
    shutil.rmtree(index)

    killed = tmp_path / "killed"
    first_commits = kill_flow_after_first_commit(config_path, inputs, killed, index, prefect_server)

    assert not index.exists()  # published only when the run completes
    again = HygieneParams(
        inputs=inputs, output=str(killed), config_path=str(config_path), dedup_index=str(index), write_datasheet=False
    )
    resumed = hygiene(again)
    committed_before = sorted(int(name.split(".")[0]) for name in first_commits)
    assert resumed["committed_now"] == [i for i in range(len(inputs)) if i not in committed_before]
    for name, mtime in first_commits.items():
        assert (killed / "_commits" / name).stat().st_mtime_ns == mtime  # never committed twice
    assert output_files(killed) == output_files(tmp_path / "reference")
    assert comparable_manifest(killed) == comparable_manifest(tmp_path / "reference")
    assert not list((killed / "_tmp").glob("scored/*"))
    assert len(json.loads((index / "manifest.json").read_text())["segments"]) == reference_index

    finished = {path: path.stat().st_mtime_ns for path in (killed / "manifest.json", index / "manifest.json")}
    assert hygiene(again)["committed_now"] == []  # a rerun of a finished run changes nothing
    assert {path: path.stat().st_mtime_ns for path in finished} == finished


def test_shard_labels_name_the_file() -> None:
    shard = ShardSource(3, "parquet", "/data/in/part-3.parquet", Path("/data/in/part-3.parquet"), Path("/data/in"))
    job = ShardJob(load_config(REPO / "configs" / "minimal.yaml"), StageContext(), Path("/o"), shard, "k")
    assert shard_label(job) == "00003 part-3.parquet"
