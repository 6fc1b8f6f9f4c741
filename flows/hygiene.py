"""Prefect flow: score every input shard as its own task (threads, processes, Dask or Ray), commit in order.

Thin by design: every decision lives in :mod:`datahygiene.engine.workers` and
:mod:`datahygiene.engine.run`, the same code ``datahygiene run`` uses, so the
flow and the CLI write the same rows. Run it locally, no server to set up::

    python flows/hygiene.py --input data/ --output out/ --config configs/minimal.yaml

See docs/flows.md for deployments, schedules and clusters.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from prefect import State, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
from prefect.tasks import Task
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datahygiene.core.config import ConfigError, RunConfig, load_config, parse_config
from datahygiene.core.config import apply_overrides as apply_config_overrides
from datahygiene.engine import workers as orchestrate
from datahygiene.engine.run import Committer, RunResult
from datahygiene.engine.workers import ScoredShard, ShardJob
from datahygiene.io.rundir import RunDir
from datahygiene.io.storage import is_url

RunnerKind = Literal["threads", "processes", "dask", "ray"]


class TaskRunnerSettings(BaseModel):
    """Where the shard tasks run."""

    model_config = ConfigDict(extra="forbid")

    kind: RunnerKind = "threads"
    #: Threads, processes or Dask LocalCluster workers (default: Prefect's / Dask's choice).
    workers: int | None = Field(default=None, gt=0)
    #: An existing Dask scheduler (``tcp://host:8786``) or Ray cluster (``ray://host:10001``).
    address: str | None = None
    #: Dask LocalCluster only: worker processes (models load once per process) or threads of this process.
    dask_processes: bool = True
    threads_per_worker: int = Field(default=1, gt=0)


class HygieneParams(BaseModel):
    """Parameters of one hygiene run (shown as a form in the Prefect UI)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(min_length=1, description="Files, folders, globs or hf:PATH specs, as for --input.")
    output: str = Field(description="Output directory; a rerun continues it (committed shards are skipped).")
    config_path: str | None = Field(default=None, description="YAML config; the shipped default when unset.")
    config: dict[str, Any] | None = Field(default=None, description="Inline config instead of config_path.")
    overrides: list[str] = Field(default_factory=list, description="key.path=value overrides, as --set.")
    dedup_index: str | None = Field(default=None, description="Persistent dedup index shared across runs.")
    resume: bool = Field(default=True, description="Continue a run found in output (scheduled reruns need this).")
    write_datasheet: bool = True
    retries: int = Field(default=2, ge=0, description="Retries of a shard task after a transient error.")
    retry_delay_seconds: float = Field(default=10.0, ge=0)
    task_runner: TaskRunnerSettings = Field(default_factory=TaskRunnerSettings)
    run_date: str | None = Field(
        default=None,
        description="Fills {date} in inputs, output and dedup_index; default: the run's scheduled date (YYYY-MM-DD).",
    )

    @model_validator(mode="after")
    def _one_config(self) -> HygieneParams:
        if self.config_path is not None and self.config is not None:
            raise ValueError("give config_path or config, not both")
        return self

    def for_date(self, date: str) -> HygieneParams:
        """These parameters with ``{date}`` filled in (nightly runs read and write one folder per night)."""
        update: dict[str, Any] = {
            "inputs": [value.replace("{date}", date) for value in self.inputs],
            "output": self.output.replace("{date}", date),
            "run_date": date,
        }
        if self.dedup_index is not None:
            update["dedup_index"] = self.dedup_index.replace("{date}", date)
        return self.model_copy(update=update)

    def run_config(self) -> RunConfig:
        """The validated :class:`~datahygiene.core.config.RunConfig`."""
        if self.config is not None:
            return parse_config(apply_config_overrides(dict(self.config), list(self.overrides)))
        return load_config(None if self.config_path is None else Path(self.config_path), list(self.overrides))


def task_runner(settings: TaskRunnerSettings) -> TaskRunner[Any]:
    """The Prefect task runner the settings name (Dask and Ray imported only when chosen)."""
    if settings.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.workers)
    if settings.kind == "processes":
        return ProcessPoolTaskRunner(max_workers=settings.workers)
    if settings.kind == "dask":
        from prefect_dask.task_runners import DaskTaskRunner

        if settings.address:
            runner: TaskRunner[Any] = DaskTaskRunner(address=settings.address)
            return runner
        cluster = {"processes": settings.dask_processes, "threads_per_worker": settings.threads_per_worker}
        if settings.workers is not None:
            cluster["n_workers"] = settings.workers
        runner = DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)
        return runner
    try:
        from prefect_ray import RayTaskRunner
    except ImportError as error:
        raise RuntimeError("the ray task runner needs prefect-ray: pip install 'datahygiene[ray]'") from error
    runner = RayTaskRunner(address=settings.address) if settings.address else RayTaskRunner()
    return runner


def retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry timeouts, lost connections and flaky I/O, never bad input."""
    try:
        state.result()
    except Exception as error:  # noqa: BLE001 - classified, not swallowed: the task fails when this says no
        return orchestrate.is_transient(error)
    return False


@task(
    name="score-shard",
    task_run_name="score {label}",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def score_shard(job: ShardJob, label: str) -> ScoredShard:
    """Order-free stages over one shard, on a worker; stages load once per worker process."""
    return orchestrate.score_shard(job)


@task(name="commit-shard", task_run_name="commit {label}", cache_policy=NO_CACHE, persist_result=False)
def commit_shard(committer: Committer, job: ShardJob, scored: ScoredShard, label: str) -> dict[str, Any]:
    """Ordered stages (dedup), policy and the two-phase commit, in this process, in input order."""
    record: dict[str, Any] = dict(orchestrate.commit_scored(committer, job, scored))
    logger = get_run_logger()
    if "error" in record:
        logger.error("shard %s failed: %s", label, record["error"])
    else:
        logger.info(
            "committed %s: %d rows, %d kept, %d rejected (scored on %s in %.1f s%s)",
            label,
            record["rows_read"],
            record["rows_kept"],
            record["rows_rejected"],
            scored.worker,
            scored.seconds,
            ", reused from an earlier attempt" if scored.reused else "",
        )
    return record


@task(name="finish-run", cache_policy=NO_CACHE, persist_result=False)
def finish_run(committer: Committer, write_documents: bool) -> RunResult:
    """The global step: publish the dedup index, write the manifest and the datasheet."""
    return orchestrate.finish(committer, write_documents=write_documents)


def shard_label(job: ShardJob) -> str:
    """``00003 text-3.parquet``: index and the shard's last path part, for task names."""
    name = job.shard.shard_id.rstrip("/").rsplit("/", 1)[-1]
    return f"{job.shard.index:05d} {name}"


def summary_markdown(result: RunResult, scored: list[ScoredShard]) -> str:
    """The run summary artifact: counts, reasons, models, workers, where the datasheet is."""
    manifest = result.manifest
    total = max(int(manifest["rows_in"]), 1)
    lines = [
        f"# datahygiene run: `{result.output}`",
        "",
        "| rows | count | share |",
        "|---|---:|---:|",
    ]
    for label, key in (("read", "rows_in"), ("kept", "rows_kept"), ("rejected", "rows_rejected")):
        lines.append(f"| {label} | {manifest[key]:,} | {manifest[key] / total:.1%} |")
    lines.append(f"| quarantined | {manifest['rows_quarantined']:,} | {manifest['rows_quarantined'] / total:.1%} |")
    lines += ["", "## Reject reasons", "", "| reason | rows |", "|---|---:|"]
    lines += [f"| `{reason}` | {count:,} |" for reason, count in manifest["reject_reasons"].items()]
    lines += ["", "## Models", "", "| stage | version | model |", "|---|---|---|"]
    for model in manifest["models"]:
        lines.append(f"| `{model['stage']}` | {model['version']} | {model.get('model') or '-'} |")
    shards = f"{manifest['shards_committed']} of {manifest['shards_total']} committed"
    lines += ["", "## Shards", "", f"{shards}, {manifest['shards_failed']} failed."]
    workers = sorted({item.worker for item in scored})
    if workers:
        lines.append(f"Scored in this attempt on {len(workers)} worker(s): {', '.join(f'`{w}`' for w in workers)}.")
    for name in result.failed_shards:
        lines.append(f"- failed: `{name}` (rerun the flow to retry it)")
    output = str(result.output).rstrip("/")
    written = RunDir.at(output).exists("datasheet.md")
    lines += [
        "",
        "## Documents",
        "",
        f"- manifest: `{output}/manifest.json`",
        f"- datasheet: `{output}/datasheet.md`" if written else "- datasheet: not written",
    ]
    return "\n".join(lines) + "\n"


def _scored_or_failed(committer: Committer, job: ShardJob, future: PrefectFuture[ScoredShard]) -> ScoredShard | None:
    """The task's result, or ``None`` after recording the shard as failed (like the CLI, the run goes on)."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - recorded as a failed shard, reported in the manifest
        get_run_logger().error("scoring %s failed: %s", shard_label(job), error)
        committer.fail(job.shard, error)
        return None


@flow(name="datahygiene", log_prints=False)
def hygiene(params: HygieneParams) -> dict[str, Any]:
    """Score, deduplicate and filter the inputs into ``params.output``; one task per input shard."""
    logger = get_run_logger()
    params = params.for_date(params.run_date or flow_run.get_scheduled_start_time().date().isoformat())
    config = params.run_config()
    dedup_index: Path | str | None = None
    if params.dedup_index:
        dedup_index = params.dedup_index if is_url(params.dedup_index) else Path(params.dedup_index)
    output: Path | str = params.output if is_url(params.output) else Path(params.output)
    plan, jobs = orchestrate.plan_jobs(config, params.inputs, output, resume=params.resume, dedup_index=dedup_index)
    logger.info(
        "%d shards, %d already committed, %d to run on %s",
        len(plan.shards),
        len(plan.shards) - len(jobs),
        len(jobs),
        params.task_runner.kind,
    )
    finished = orchestrate.completed_result(plan)
    if finished is not None:
        logger.info("%s already holds the finished run; nothing to do", params.output)
        return _report(finished, [], [])
    progress = create_progress_artifact(
        progress=100.0 * (len(plan.shards) - len(jobs)) / len(plan.shards),
        key="datahygiene-progress",
        description=f"shards committed into {params.output}",
    )
    committer = Committer(plan)
    scorer = score_shard.with_options(retries=params.retries, retry_delay_seconds=params.retry_delay_seconds)
    scored_shards: list[ScoredShard] = []
    committed_now: list[int] = []
    try:
        if jobs:
            with task_runner(params.task_runner) as runner:
                futures = [runner.submit(scorer, {"job": job, "label": shard_label(job)}) for job in jobs]
                for position, (job, future) in enumerate(zip(jobs, futures, strict=True)):
                    scored = _scored_or_failed(committer, job, future)
                    if scored is not None:
                        scored_shards.append(scored)
                        if "error" not in commit_shard(committer, job, scored, shard_label(job)):
                            committed_now.append(job.shard.index)
                    if isinstance(progress, UUID):  # the sync API returns the id, not a coroutine
                        done = len(plan.shards) - len(jobs) + position + 1
                        update_progress_artifact(artifact_id=progress, progress=100.0 * done / len(plan.shards))
        result = finish_run(committer, params.write_datasheet)
    except ConfigError:
        if not committer.attached:
            orchestrate.discard_spools(plan)
        raise
    finally:
        committer.close()  # a long-lived process (flow.serve) must not keep the output locked after a failure
    return _report(result, scored_shards, committed_now)


def _report(result: RunResult, scored_shards: list[ScoredShard], committed_now: list[int]) -> dict[str, Any]:
    """Publish the summary artifact; fail the flow run when a shard failed; the flow's return value."""
    create_markdown_artifact(
        markdown=summary_markdown(result, scored_shards),
        key="datahygiene-run-summary",
        description=f"datahygiene run into {result.output}",
    )
    if result.invariant_errors:
        raise RuntimeError(f"output invariants violated: {'; '.join(result.invariant_errors)}")
    if result.failed_shards:
        raise RuntimeError(f"{len(result.failed_shards)} shard(s) failed; rerun the flow to resume")
    summary = {
        key: result.manifest[key]
        for key in ("rows_in", "rows_kept", "rows_rejected", "rows_quarantined", "reject_reasons", "shards_total")
    }
    return {**summary, "committed_now": committed_now, "workers": worker_report(scored_shards)}


def worker_report(scored: list[ScoredShard]) -> dict[str, dict[str, int]]:
    """Per worker process: shards it scored and how often it built the scoring stages (1 when caching works)."""
    report: dict[str, dict[str, int]] = {}
    for item in scored:
        entry = report.setdefault(item.worker, {"shards": 0, "stage_builds": 0})
        entry["shards"] += 1
        entry["stage_builds"] = max(entry["stage_builds"], item.pipelines_built)
    return report


def build_parser(description: str) -> argparse.ArgumentParser:
    """The flow's parameters as command-line options (shared with ``flows/serve.py``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input", "-i", dest="inputs", action="append", required=True, help="repeatable; {date} ok")
    parser.add_argument("--output", "-o", required=True, help="output directory; {date} is the run's date")
    parser.add_argument("--config", dest="config_path", help="YAML config (default: the shipped default config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="key.path=value; repeatable")
    parser.add_argument("--dedup-index", help="persistent dedup index shared across runs")
    parser.add_argument("--no-resume", action="store_true", help="refuse an output directory that holds a run")
    parser.add_argument("--no-datasheet", action="store_true")
    parser.add_argument("--runner", choices=["threads", "processes", "dask", "ray"], default="threads")
    parser.add_argument("--workers", type=int, help="threads, processes or Dask LocalCluster workers")
    parser.add_argument("--address", help="an existing Dask scheduler or Ray cluster")
    parser.add_argument("--retries", type=int, default=2, help="retries of a shard after a transient error")
    return parser


def params_from_args(args: argparse.Namespace) -> HygieneParams:
    """Parsed options -> flow parameters."""
    same_names = ("inputs", "output", "config_path", "overrides", "dedup_index", "retries")
    return HygieneParams(
        **{name: getattr(args, name) for name in same_names},
        resume=not args.no_resume,
        write_datasheet=not args.no_datasheet,
        task_runner=TaskRunnerSettings(kind=args.runner, workers=args.workers, address=args.address),
    )


@contextmanager
def shared_temporary_server(settings: TaskRunnerSettings) -> Iterator[None]:
    """With no Prefect API configured, start the temporary server once and give its URL to worker processes.

    Prefect would otherwise start one temporary server per worker process
    (processes, Dask, Ray), each taking seconds and none of them visible to
    the flow run. The server stops when this process exits.
    """
    if settings.kind == "threads" or PREFECT_API_URL.value():
        yield
        return
    server = SubprocessASGIServer()  # the instance Prefect's client would start for this process
    server.start(timeout=PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    os.environ["PREFECT_API_URL"] = server.api_url  # inherited by the worker processes
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield


def main(argv: list[str] | None = None) -> int:
    """``python flows/hygiene.py``: run the flow once in this process."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = build_parser("Run the datahygiene Prefect flow once, in this process (no server to set up).")
    params = params_from_args(parser.parse_args(sys.argv[1:] if argv is None else argv))
    with shared_temporary_server(params.task_runner):
        state = hygiene(params, return_state=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
