"""A run: plan -> (score -> commit in input order)* -> manifest and datasheet.

The CLI calls :func:`run`; the Prefect flows call the same pieces
(:func:`~datahygiene.engine.plan.plan_run`, :class:`Committer`) with the order-free scoring done on
workers (see :mod:`datahygiene.engine.workers`). Each shard is committed
atomically (see :mod:`datahygiene.io.sink`), so a rerun with
``resume=True`` skips what was committed and produces byte-identical files
for the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datahygiene.core import progress
from datahygiene.core.config import RunConfig
from datahygiene.core.stage import ScoredBatch
from datahygiene.engine.commit import ShardRunner, failure_record
from datahygiene.engine.manifest import build_manifest
from datahygiene.engine.pipeline import Pipeline, score_batches
from datahygiene.engine.plan import OutputBusyError, OutputPathError, RunPlan, plan_run, start_output
from datahygiene.engine.prefetch import Prefetch
from datahygiene.engine.progress import LockedListener, ProgressListener, Silent
from datahygiene.io.sink import NotARunError, RunLock
from datahygiene.io.sources import ShardSource
from datahygiene.reports.datasheet import write_datasheet
from datahygiene.reports.verify import check_invariants

log = logging.getLogger(__name__)

#: Scored batches that may wait for the ordered stages (one more is being scored): memory stays bounded.
PREFETCH_DEPTH = 1


@dataclass
class RunResult:
    """What a run produced: the manifest and the process exit status."""

    manifest: dict[str, Any]
    #: The output folder, or its URL for an object store.
    output: Path | str
    failed_shards: list[str] = field(default_factory=list)
    invariant_errors: list[str] = field(default_factory=list)
    #: True when the output already held this run, finished: nothing was loaded, scored or written.
    already_finished: bool = False

    @property
    def exit_code(self) -> int:
        if self.invariant_errors:
            return 3
        return 1 if self.failed_shards else 0


class Committer:
    """Commits shards in input order, then writes the manifest and the datasheet (the run's global step).

    The CLI and the flows both commit through this class; they differ only in
    where the order-free stages ran.
    """

    def __init__(self, plan: RunPlan, listener: ProgressListener | None = None) -> None:
        self.plan = plan
        self.listener = listener or Silent()
        self.committed = dict(plan.committed)
        self.failures: dict[int, dict[str, Any]] = {}
        self._runner: ShardRunner | None = None
        self._lock: RunLock | None = None

    def close(self) -> None:
        """Release the output directory's lock and remove a URL run's work folder (``finish`` does this)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.plan.run_dir.close()

    @property
    def attached(self) -> bool:
        return self._runner is not None

    @property
    def runner(self) -> ShardRunner:
        if self._runner is None:
            raise RuntimeError("attach a pipeline before committing")
        return self._runner

    @property
    def pipeline(self) -> Pipeline:
        """The stages and policy the shards are committed with."""
        return self.runner.pipeline

    def _publish(self) -> None:
        """Every shard committed: the stateful stages publish their cross-run indexes."""
        for stage in self.runner.pipeline.stateful:
            stage.commit_run()

    def attach(self, pipeline: Pipeline) -> None:
        """Lock and start (or continue) the output directory with a validated pipeline; restore committed state."""
        self._open_output()
        self._runner = ShardRunner(pipeline, self.plan.run_dir, self.listener)
        self._runner.restore(self.committed)
        self.listener.run_started(self.plan.pending, skipped=len(self.plan.shards) - len(self.plan.pending))

    def _open_output(self) -> None:
        """Take the output's lock, check nobody else wrote into it, then start it or clean what a crash left."""
        plan = self.plan
        try:
            self._lock = plan.run_dir.lock()
        except BlockingIOError:
            raise OutputBusyError(f"another run is writing into {plan.run_dir.name}") from None
        except OSError as error:  # e.g. a read-only parent: not another run
            raise OutputPathError(f"cannot write into {plan.run_dir.name}: {error.strerror or error}") from None
        changed = plan.run_dir.committed() != plan.committed or (not plan.resuming and plan.run_dir.exists("_run.json"))
        if changed:
            self.close()
            raise OutputBusyError(f"another run wrote into {plan.run_dir.name} since this one started; rerun it")
        if plan.resuming:
            plan.run_dir.clean_uncommitted(self.committed)
        else:
            start_output(plan.run_dir, plan.identity, plan.config)

    def commit(
        self, shard: ShardSource, batches: Iterable[ScoredBatch], started: float | None = None
    ) -> dict[str, Any]:
        """Commit one shard (the next one in input order); returns its commit or error record.

        ``started``: when the shard's scoring began, if before this call (``time.perf_counter()``).
        """
        if shard.index in self.committed:
            raise RuntimeError(f"shard {shard.shard_id} is already committed")
        record = self.runner.commit(shard, batches, started)
        self._record(shard, record)
        return record

    def fail(self, shard: ShardSource, error: BaseException) -> dict[str, Any]:
        """Record a shard whose scoring failed; it stays pending for the next resume."""
        record = failure_record(shard, error)
        self._record(shard, record)
        return record

    def _record(self, shard: ShardSource, record: dict[str, Any]) -> None:
        if "error" in record:
            self.failures[shard.index] = record
        else:
            self.committed[shard.index] = record
        self.listener.shard_done(shard, record)

    def finish(self, *, write_documents: bool = True) -> RunResult:
        """Publish persistent indexes (when every shard committed), write the manifest and the datasheet."""
        plan = self.plan
        if not self.failures:
            self._publish()
        manifest = build_manifest(
            config=plan.config,
            shards=plan.shards,
            committed=self.committed,
            failures=self.failures,
            models=self.pipeline.models(),
            column_roles=self.pipeline.column_roles,
            started=plan.started,
            finished=time.time(),
        )
        plan.run_dir.write_json("manifest.json", manifest)
        errors = check_invariants(plan.run_dir, manifest)
        if write_documents:
            log.info("writing the datasheet (skip with --no-datasheet)")
            try:
                with plan.run_dir.local_view(write_back=True) as folder:
                    write_datasheet(folder)
            except Exception as error:  # noqa: BLE001 - the documents must never fail a run whose data is committed
                log.warning(
                    "datasheet not written (rebuild it with `datahygiene datasheet %s`): %s", plan.run_dir.name, error
                )
        self.close()
        return RunResult(
            manifest=manifest,
            output=plan.run_dir.location,
            failed_shards=[record["shard"] for record in self.failures.values()],
            invariant_errors=errors,
        )


class ScoringAhead:
    """The pending shards' scored batches, each made on its own thread (:class:`Prefetch`) ahead of the commit.

    When the committer has taken a shard's last batch, the next shard's scoring starts, so it reads while the
    last one's files are finished and committed. A shard the committer stops early (it failed) has its thread
    stopped before the next shard's is started; leaving the ``with`` block stops whatever still runs.
    """

    def __init__(self, shards: list[ShardSource], score: Callable[[ShardSource], Iterator[ScoredBatch]]) -> None:
        self.shards = shards
        self.score = score
        self._running: dict[int, Prefetch[ScoredBatch]] = {}

    def _start(self, position: int) -> Prefetch[ScoredBatch]:
        shard = self.shards[position]
        made = Prefetch(self.score(shard), depth=PREFETCH_DEPTH, name=f"score-{shard.index:05d}")
        self._running[position] = made
        return made

    def shard(self, position: int) -> tuple[Iterator[ScoredBatch], float]:
        """The scored batches of the shard at ``position`` (in order) and when its scoring started."""
        for earlier in [p for p in self._running if p < position]:
            self._running.pop(earlier).close()  # committed, or stopped early: its thread ends here
        made = self._running.get(position) or self._start(position)
        return self._handing_over(made, position), made.started

    def _handing_over(self, made: Prefetch[ScoredBatch], position: int) -> Iterator[ScoredBatch]:
        yield from made
        if position + 1 < len(self.shards) and position + 1 not in self._running:
            self._start(position + 1)

    def close(self) -> None:
        """Stop every shard's thread still running."""
        for made in self._running.values():
            made.close()
        self._running.clear()

    def __enter__(self) -> ScoringAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def completed_result(plan: RunPlan) -> RunResult | None:
    """The result of a run that already finished with every shard committed (a rerun then does nothing).

    Finishing again would publish the dedup index a second time; scheduled
    flows are rerun by hand or by retries, and ``datahygiene run --resume`` by people, so this case must be a no-op
    (no model loaded, nothing rewritten).
    """
    if not plan.resuming or plan.pending:
        return None
    try:
        manifest = plan.run_dir.read_manifest()
    except NotARunError:  # killed before the manifest was (completely) written: finish again
        return None
    finished = (
        manifest.get("config_sha256") == plan.config.sha256()
        and manifest.get("shards_failed") == 0
        and manifest.get("shards_committed") == len(plan.shards)
    )
    if not finished:
        return None
    errors = check_invariants(plan.run_dir, manifest)
    return RunResult(manifest=manifest, output=plan.run_dir.location, invariant_errors=errors, already_finished=True)


def run(
    config: RunConfig,
    inputs: list[str],
    output: Path | str,
    *,
    resume: bool = False,
    dedup_index: Path | str | None = None,
    listener: ProgressListener | None = None,
    write_documents: bool = True,
) -> RunResult:
    """Run the pipeline over ``inputs`` into ``output``; see the README for the contract."""
    # Check the output directory before loading any model, create it after the
    # pipeline (and so the policy) validated.
    plan = plan_run(config, inputs, output, resume=resume, dedup_index=dedup_index)
    finished = completed_result(plan)
    if finished is not None:
        return finished
    pipeline = Pipeline(config, plan.context)
    assert pipeline.scoring is not None  # built here, not on workers
    locked = LockedListener(listener or Silent())
    committer = Committer(plan, locked)
    try:
        committer.attach(pipeline)
        scoring = pipeline.scoring
        with (
            progress.reporting(committer.listener.batch_scoring),
            ScoringAhead(plan.pending, lambda shard: score_batches(shard, config, scoring, locked)) as ahead,
        ):
            for position, shard in enumerate(plan.pending):
                batches, started = ahead.shard(position)
                committer.commit(shard, batches, started)
        return committer.finish(write_documents=write_documents)
    finally:
        committer.close()
