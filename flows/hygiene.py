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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from pydantic import BaseModel, ConfigDict, Field

from datahygiene.core.config import ConfigError
from datahygiene.engine import phase_run
from datahygiene.engine import workers as orchestrate
from datahygiene.engine.options import RunOptions, add_run_arguments, run_values
from datahygiene.engine.partitioned import PartitionedCommitter
from datahygiene.engine.plan import RunPlan
from datahygiene.engine.run import Committer, RunResult
from datahygiene.engine.workers import ScoredShard, ShardJob
from datahygiene.reports.summary import summary_markdown

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
    #: Run the ordered stage (dedup) as a partitioned phase of tasks and commit shards in parallel; default:
    #: on Dask or Ray with more than one worker (a run that started partitioned resumes partitioned).
    partitioned: bool | None = None
    #: Partitions of the phase (default: twice the workers, at least 4).
    partitions: int | None = Field(default=None, gt=0)

    def wants_phase(self) -> bool:
        """Whether to commit through the partitioned phase (when the run's stages allow it)."""
        if self.partitioned is not None:
            return self.partitioned
        return self.kind in ("dask", "ray") and (self.workers is None or self.workers > 1)

    def phase_partitions(self) -> int:
        """How many partitions the phase spreads keys over."""
        return self.partitions or max(4, 2 * (self.workers or 2))


class HygieneParams(RunOptions):
    """Parameters of one hygiene run (shown as a form in the Prefect UI): the run options plus where tasks run."""

    resume: bool = Field(default=True, description="Continue a run found in output (scheduled reruns need this).")
    retries: int = Field(default=2, ge=0, description="Retries of a shard task after a transient error.")
    retry_delay_seconds: float = Field(default=10.0, ge=0)
    task_runner: TaskRunnerSettings = Field(default_factory=TaskRunnerSettings)
    run_date: str | None = Field(
        default=None,
        description="Fills {date} in inputs, output and dedup_index; default: the run's scheduled date (YYYY-MM-DD).",
    )

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


@task(name="phase-step", task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False)
def phase_step(func: Callable[..., Any], args: list[Any], label: str) -> Any:
    """One task of the partitioned phase (spill a shard, resolve a partition, commit a shard ...), on a worker."""
    return func(*args)


class PrefectTasks:
    """The phase's task client over the flow's task runner: each call becomes a ``phase-step`` task run."""

    def __init__(self, runner: TaskRunner[Any]) -> None:
        self.runner = runner

    def submit(self, func: Callable[..., Any], *args: Any, **_dask_options: Any) -> PrefectFuture[Any]:
        """Submit ``func(*args)`` as a task run (Dask's options, such as ``pure``, do not apply)."""
        name = getattr(func, "__name__", "step")
        shard = next((arg.shard.index for arg in args if isinstance(arg, ShardJob)), None)
        number = next((arg for arg in args if isinstance(arg, int)), None) if shard is None else shard
        label = name if number is None else f"{name} {number:05d}"
        future: PrefectFuture[Any] = self.runner.submit(phase_step, {"func": func, "args": list(args), "label": label})
        return future

    def gather(self, futures: list[PrefectFuture[Any]]) -> list[Any]:
        return [future.result() for future in futures]


def commit_partitioned(
    settings: TaskRunnerSettings,
    runner: TaskRunner[Any],
    plan: RunPlan,
    jobs: list[ShardJob],
    scored: list[ScoredShard],
) -> tuple[PartitionedCommitter, list[int]] | None:
    """Decide with the phase's tasks, commit the shards as tasks, records in input order (None: no phase)."""
    outcome = phase_run.commit_with_phase(PrefectTasks(runner), plan, jobs, scored, settings.phase_partitions())
    if outcome is not None:
        logger = get_run_logger()
        for job in jobs:
            failure = outcome[0].failures.get(job.shard.index)
            if failure is not None:
                logger.error("shard %s failed: %s", shard_label(job), failure["error"])
    return outcome


@task(name="finish-run", cache_policy=NO_CACHE, persist_result=False)
def finish_run(committer: Committer, write_documents: bool) -> RunResult:
    """The global step: publish the dedup index, write the manifest and the datasheet."""
    return orchestrate.finish(committer, write_documents=write_documents)


def shard_label(job: ShardJob) -> str:
    """``00003 text-3.parquet``: index and the shard's last path part, for task names."""
    name = job.shard.shard_id.rstrip("/").rsplit("/", 1)[-1]
    return f"{job.shard.index:05d} {name}"


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
    plan, jobs = orchestrate.plan_jobs(
        config, params.inputs, params.output_path, resume=params.resume, dedup_index=params.dedup_index_path
    )
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
    committer: Committer = Committer(plan)
    scorer = score_shard.with_options(retries=params.retries, retry_delay_seconds=params.retry_delay_seconds)
    scored_shards: list[ScoredShard] = []
    committed_now: list[int] = []
    partitioned = phase_run.started(plan) or (params.task_runner.wants_phase() and not plan.committed)
    try:
        if jobs or partitioned:
            with task_runner(params.task_runner) as runner:
                futures = [runner.submit(scorer, {"job": job, "label": shard_label(job)}) for job in jobs]
                outcome = None
                if partitioned:
                    for job, future in zip(jobs, futures, strict=True):
                        scored = _scored_or_failed(committer, job, future)
                        if scored is not None:
                            scored_shards.append(scored)
                    if not committer.failures:
                        outcome = commit_partitioned(params.task_runner, runner, plan, jobs, scored_shards)
                    if outcome is not None:
                        committer, committed_now = outcome
                by_index = {item.index: item for item in scored_shards}
                serial = zip(jobs, futures, strict=True) if outcome is None else iter(())
                for position, (job, future) in enumerate(serial):
                    scored = by_index.get(job.shard.index) if partitioned else _scored_or_failed(committer, job, future)
                    if scored is not None:
                        if not partitioned:
                            scored_shards.append(scored)
                        if "error" not in commit_shard(committer, job, scored, shard_label(job)):
                            committed_now.append(job.shard.index)
                    if isinstance(progress, UUID):  # the sync API returns the id, not a coroutine
                        done = len(plan.shards) - len(jobs) + position + 1
                        update_progress_artifact(artifact_id=progress, progress=100.0 * done / len(plan.shards))
                if outcome is not None:
                    result = finish_run(committer, params.write_datasheet)
                    if not committer.failures:
                        plan.run_dir.remove_prefix(phase_run.WORK)
        if not isinstance(committer, PartitionedCommitter):
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
        markdown=summary_markdown(result.manifest, result.output, sorted({item.worker for item in scored_shards})),
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
    """The flow's parameters as command-line options (shared with ``flows/serve.py``); run options from the model."""
    parser = argparse.ArgumentParser(description=description)
    add_run_arguments(parser, HygieneParams)
    parser.add_argument("--runner", choices=["threads", "processes", "dask", "ray"], default="threads")
    parser.add_argument("--workers", type=int, help="threads, processes or Dask LocalCluster workers")
    parser.add_argument("--address", help="an existing Dask scheduler or Ray cluster")
    parser.add_argument(
        "--partitioned",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="dedup as a partitioned phase, shards committed in parallel (default: Dask/Ray with 2+ workers)",
    )
    parser.add_argument("--partitions", type=int, help="partitions of the dedup phase (default: 2 per worker, >= 4)")
    parser.add_argument("--retries", type=int, default=2, help=HygieneParams.describe("retries"))
    return parser


def params_from_args(args: argparse.Namespace) -> HygieneParams:
    """Parsed options -> flow parameters."""
    return HygieneParams(
        **run_values(args),
        retries=args.retries,
        task_runner=TaskRunnerSettings(
            kind=args.runner,
            workers=args.workers,
            address=args.address,
            partitioned=args.partitioned,
            partitions=args.partitions,
        ),
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
