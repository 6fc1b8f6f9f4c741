"""Deployments: prefect.yaml declares valid parameters and schedules; flows/serve.py registers a cron deployment."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from flows.hygiene import HygieneParams, TaskRunnerSettings, build_parser, hygiene, params_from_args, task_runner
from flows.serve import nightly_deployment
from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect_dask.task_runners import DaskTaskRunner

from tests.conftest import REPO


def _deployments() -> list[dict[str, Any]]:
    declared: list[dict[str, Any]] = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    return declared


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: str(d["name"]))
def test_prefect_yaml_deployments_are_valid(deployment: dict[str, Any]) -> None:
    path, _, name = deployment["entrypoint"].partition(":")
    loaded: Flow[Any, Any] = load_flow_from_entrypoint(f"{REPO / path}:{name}")
    assert loaded.name == hygiene.name
    params = HygieneParams.model_validate(deployment["parameters"]["params"])
    assert "{date}" in params.output
    for schedule in deployment.get("schedules", []):
        assert Cron(schedule["cron"], timezone=schedule["timezone"]).cron == "0 2 * * *"


def test_a_nightly_deployment_is_declared() -> None:
    nightly = next(d for d in _deployments() if d["name"] == "nightly-incremental")
    assert nightly["schedules"][0]["cron"] == "0 2 * * *"
    assert nightly["concurrency_limit"] == 1
    assert nightly["parameters"]["params"]["dedup_index"]


def test_date_placeholders_are_filled() -> None:
    params = HygieneParams(inputs=["/in/{date}/*.parquet"], output="/out/{date}", dedup_index="/index")
    filled = params.for_date("2026-11-23")
    assert filled.inputs == ["/in/2026-11-23/*.parquet"]
    assert filled.output == "/out/2026-11-23"
    assert filled.dedup_index == "/index"
    assert filled.run_date == "2026-11-23"


def test_command_line_options_become_parameters() -> None:
    args = build_parser("test").parse_args(
        ["-i", "a.parquet", "-i", "b/", "-o", "out", "--set", "batch_size=8", "--runner", "dask", "--workers", "2"]
    )
    params = params_from_args(args)
    assert params.inputs == ["a.parquet", "b/"]
    assert params.overrides == ["batch_size=8"]
    assert params.task_runner.kind == "dask"
    assert params.task_runner.workers == 2
    assert params.resume is True
    with pytest.raises(ValueError, match="not both"):
        HygieneParams(inputs=["a"], output="o", config_path="c.yaml", config={})


def test_serve_registers_a_cron_deployment(prefect_server: str, tmp_path: Path) -> None:
    paths = ["--input", str(tmp_path / "in" / "{date}"), "--output", str(tmp_path / "out" / "{date}")]
    deployment_id = nightly_deployment([*paths, "--cron", "30 1 * * *"]).apply()
    assert isinstance(deployment_id, UUID)
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
    assert stored.name == "nightly-incremental"
    assert [schedule.schedule.cron for schedule in stored.schedules] == ["30 1 * * *"]  # type: ignore[union-attr]
    assert HygieneParams.model_validate(stored.parameters["params"]).output.endswith("{date}")
    assert stored.global_concurrency_limit is not None
    assert stored.global_concurrency_limit.limit == 1


def test_task_runner_settings_pick_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = task_runner(TaskRunnerSettings(kind="threads", workers=3))
    assert isinstance(threads, ThreadPoolTaskRunner)
    assert threads._max_workers == 3
    assert isinstance(task_runner(TaskRunnerSettings(kind="processes", workers=2)), ProcessPoolTaskRunner)
    remote = task_runner(TaskRunnerSettings(kind="dask", address="tcp://scheduler:8786"))
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tcp://scheduler:8786"
    local = task_runner(TaskRunnerSettings(kind="dask", workers=4))
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs == {"processes": True, "threads_per_worker": 1, "n_workers": 4}
    monkeypatch.setitem(sys.modules, "prefect_ray", None)  # not installed: a clear message, not a traceback
    with pytest.raises(RuntimeError, match=r"datahygiene\[ray\]"):
        task_runner(TaskRunnerSettings(kind="ray"))
