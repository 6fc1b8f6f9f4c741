"""A run whose dedup is the flow's partitioned phase, driven here without an orchestrator (``run-partitioned``).

The same steps as the flow's partitioned mode (``flows/hygiene.py``), in the same order and through the same
functions: score every shard into a spool (:func:`~datahygiene.engine.workers.score_shard`), spill and decide
the phase (:func:`~datahygiene.engine.phase_run.run_phase`), one commit task per shard
(:func:`~datahygiene.engine.phase_run.commit_task`, records written in input order), the run's representatives
into ``--dedup-index``, then the manifest and the datasheet. Tasks run one after another in this process, or
on a pool of worker processes (``workers`` > 1); no orchestrator is imported.

Where the phase cannot decide as the stage would (no single stateful stage, semantic dedup over the run's
embeddings, a resumed run whose earlier attempt committed shards serially, a shard that failed scoring), the
shards are committed one at a time by the streaming stage, as ``datahygiene run`` does, with the reason logged.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from datahygiene.core.config import ConfigError, RunConfig
from datahygiene.engine import phase_run
from datahygiene.engine import workers as orchestrate
from datahygiene.engine.partitioned import PartitionedCommitter
from datahygiene.engine.plan import RunPlan
from datahygiene.engine.progress import ProgressListener
from datahygiene.engine.run import Committer, RunResult
from datahygiene.engine.workers import ScoredShard, ShardJob

log = logging.getLogger(__name__)


class LocalTasks:
    """The phase's task client: each task runs here at once, or on a process pool (``pool``)."""

    def __init__(self, pool: ProcessPoolExecutor | None) -> None:
        self.pool = pool

    def submit(self, func: Callable[..., Any], *args: Any, **_dask_options: Any) -> Future[Any]:
        """``func(*args)`` as a future (already done when there is no pool)."""
        if self.pool is not None:
            return self.pool.submit(func, *args)
        future: Future[Any] = Future()
        try:
            future.set_result(func(*args))
        except Exception as error:  # noqa: BLE001 - handed back through the future, as a pool would
            future.set_exception(error)
        return future

    def gather(self, futures: list[Future[Any]]) -> list[Any]:
        """The futures' results, in order (the first error is raised)."""
        return [future.result() for future in futures]


@contextlib.contextmanager
def task_pool(workers: int) -> Iterator[LocalTasks]:
    """Tasks in this process (``workers`` <= 1) or on ``workers`` spawned processes (models load once in each)."""
    if workers <= 1:
        yield LocalTasks(None)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield LocalTasks(pool)


def default_partitions(workers: int) -> int:
    """Partitions of the phase when none are asked for: twice the workers, at least 4 (the flow's rule)."""
    return max(4, 2 * workers)


def run_partitioned(
    config: RunConfig,
    inputs: list[str],
    output: Path | str,
    *,
    resume: bool = False,
    dedup_index: Path | str | None = None,
    partitions: int | None = None,
    workers: int = 1,
    listener: ProgressListener | None = None,
    write_documents: bool = True,
) -> RunResult:
    """Run the pipeline over ``inputs`` into ``output`` with dedup as the partitioned phase; ``run``'s contract."""
    plan, jobs = orchestrate.plan_jobs(config, inputs, output, resume=resume, dedup_index=dedup_index)
    finished = orchestrate.completed_result(plan)
    if finished is not None:
        return finished
    committer: Committer = Committer(plan, listener)
    try:
        with task_pool(workers) as tasks:
            scored = _score(tasks, committer, jobs)
            outcome = None
            if not committer.failures:
                count = partitions or default_partitions(workers)
                outcome = _commit_partitioned(tasks, plan, jobs, scored, count, listener)
            else:
                failed = len(committer.failures)
                log.warning("no partitioned phase: %d shard(s) failed scoring; committing serially", failed)
            if outcome is not None:
                committer = outcome
                result = orchestrate.finish(committer, write_documents=write_documents)
                if not committer.failures:
                    plan.run_dir.remove_prefix(phase_run.WORK)
                return result
            by_index = {item.index: item for item in scored}
            for job in jobs:
                item = by_index.get(job.shard.index)
                if item is not None:
                    orchestrate.commit_scored(committer, job, item)
            return orchestrate.finish(committer, write_documents=write_documents)
    except ConfigError:
        if not committer.attached:
            orchestrate.discard_spools(plan)
        raise
    finally:
        committer.close()


def _score(tasks: LocalTasks, committer: Committer, jobs: list[ShardJob]) -> list[ScoredShard]:
    """Every pending shard scored into its spool; a shard that fails is recorded as failed (the run goes on)."""
    futures = [tasks.submit(orchestrate.score_shard, job) for job in jobs]
    scored = []
    for position, (job, future) in enumerate(zip(jobs, futures, strict=True), start=1):
        try:
            scored.append(future.result())
        except Exception as error:  # noqa: BLE001 - recorded as a failed shard, reported in the manifest
            log.error("scoring %s failed: %s", job.shard.shard_id, error)
            committer.fail(job.shard, error)
            continue
        log.info("scored shard %d of %d (%s)", position, len(jobs), job.shard.shard_id)
    return scored


def _commit_partitioned(
    tasks: LocalTasks,
    plan: RunPlan,
    jobs: list[ShardJob],
    scored: list[ScoredShard],
    partitions: int,
    listener: ProgressListener | None,
) -> PartitionedCommitter | None:
    """Decide with the phase, commit every shard as a task, records in input order (None: no phase, serial)."""
    if plan.committed and not phase_run.started(plan):
        log.warning("no partitioned phase: an earlier attempt committed shards serially; committing serially")
        return None
    outcome = phase_run.commit_with_phase(tasks, plan, jobs, scored, partitions, listener)
    return None if outcome is None else outcome[0]
