"""A run whose ordered stage is a partitioned phase: no process holds the run's rows, index or ids.

After scoring, for a run whose one stateful stage offers a phase (``dedup``: ``DedupStage.phase``):

1. one spill task per shard reads its spool and writes the stage's keys and the id hashes by partition;
   one task per segment of ``--dedup-index`` does the same for the index;
2. the id check (:mod:`.partition_ids`) and the stage's decisions run as tasks per partition; a
   ``phase.json`` in the work area (``OUTPUT/_tmp/phase``) then records that every decision is made;
3. one commit task per pending shard (:func:`~datahygiene.engine.partitioned.commit_shard`) writes its files,
   in parallel; the committing process writes the commit records in input order, as they arrive;
4. with every shard committed, the run's representatives go to the index (segment tasks, then one publish)
   and the committing process writes the manifest.

A run killed before ``phase.json`` redoes the phase; after it, the resumed run keeps its decisions (the
phase key names the config and every shard's fingerprint) and commits only the shards without a record.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from datahygiene.core import columns as C
from datahygiene.core import registry
from datahygiene.core.config import RunConfig
from datahygiene.core.stage import Batch, ChainSummary
from datahygiene.engine.partition_ids import IdSpill, duplicate_mask, resolve_ids
from datahygiene.engine.partitioned import (
    Amendments,
    PartitionedCommitter,
    StandIn,
    commit_shard,
    supplied_pipeline,
)
from datahygiene.engine.pipeline import StageChain, split_stages
from datahygiene.engine.plan import RunPlan
from datahygiene.engine.progress import ProgressListener
from datahygiene.engine.workers import ScoredShard, ShardJob, remove_spool, shard_key
from datahygiene.io.spool import read_spool
from datahygiene.io.workarea import WorkArea

log = logging.getLogger(__name__)
WORK = "_tmp/phase"


class TaskClient(Protocol):
    """Where the tasks run (a ``dask.distributed.Client`` fits; the flow adapts its Prefect task runner)."""

    def submit(self, func: Callable[..., Any], *args: Any) -> Any: ...

    def gather(self, futures: Any) -> Any: ...


class Spiller(Protocol):
    """Collects one shard's rows for the phase."""

    def add(self, batch: Batch) -> None: ...

    def close(self) -> int: ...


class Phase(Protocol):
    """What a stage's partitioned phase offers (see ``datahygiene.stages.dedup.phase.DedupPhase``)."""

    name: str
    version: str
    schema: pa.Schema
    partitions: int

    @property
    def roles(self) -> Mapping[str, Any]: ...

    @property
    def amends(self) -> tuple[str, ...]: ...

    def refusal(self, artifacts: Mapping[str, str], upstream: frozenset[str]) -> str | None: ...

    def describe(self, earlier: int) -> dict[str, Any]: ...

    def spiller(self, shard: int) -> Spiller: ...

    def index_segments(self) -> list[str]: ...

    def spill_segment(self, position: int, segment: str) -> int: ...

    def decide(self, client: Any, segments: list[int], shards: list[int]) -> dict[str, int]: ...

    def columns(self, shard: int, rows: int) -> pa.Table: ...

    def amendments(self, shard: int, rows: int, values: Mapping[str, pa.ChunkedArray]) -> Amendments: ...

    def representatives(self, shard: int) -> int: ...

    def segment(self, shard: int, rep_start: int) -> int: ...

    def publish(self, base: list[str], token: str, shards: list[int]) -> list[str]: ...


def find_phase(plan: RunPlan, scoring: ChainSummary, partitions: int) -> Phase | None:
    """The phase of the run's one stateful stage, when it has one and it decides as the stage would.

    None otherwise, with the reason logged: the flow then commits one shard at a time (e.g. semantic dedup
    with its embeddings in the run, which the phase does not partition).
    """
    ordered = split_stages(plan.config)[1]
    stateful = [(name, params) for name, params in ordered if registry.is_stateful(name)]
    if len(stateful) != 1:
        names = ", ".join(name for name, _ in stateful) or "none"
        level = logging.WARNING if stateful else logging.INFO
        log.log(level, "no partitioned phase: stateful stages %s (it takes exactly one); committing serially", names)
        return None
    name, params = stateful[0]
    factory = getattr(registry.get(name), "phase", None)  # "module:function", imported only when used
    if not isinstance(factory, str):
        log.warning("no partitioned phase: stage %r offers none; committing serially", name)
        return None
    module, function = factory.split(":")
    make = getattr(importlib.import_module(module), function)
    phase: Phase = make(params, work_location(plan), partitions, plan.context.dedup_index)
    # the stateful stage leads the ordered ones: before it come the input's columns and the scoring stages'
    upstream = frozenset({f.name for f in C.BASE_SCHEMA} | {stage_field.name for _, stage_field in scoring.fields})
    reason = phase.refusal(dict(scoring.artifacts), upstream)
    if reason is not None:
        log.warning("no partitioned %s phase: %s; committing serially", name, reason)
        return None
    return phase


def work_location(plan: RunPlan) -> str:
    """The phase's work area: ``_tmp/phase`` under the output (a folder, or a prefix in its store)."""
    return f"{str(plan.run_dir.location).rstrip('/')}/{WORK}"


def phase_key(config: RunConfig, plan: RunPlan) -> str:
    """Names the decisions: the config and every shard's fingerprint."""
    keys = "|".join(shard_key(config, shard) for shard in plan.shards)
    return hashlib.sha256(f"{config.sha256()}|{keys}".encode()).hexdigest()


@contextlib.contextmanager
def spool_file(job: ShardJob, spool: Path | str) -> Iterator[Path]:
    """The shard's spool as a local file (downloaded from the output's store when there is one)."""
    if not isinstance(spool, str) or "://" not in spool:
        yield Path(spool)
        return
    from datahygiene.io.storage import Store

    with tempfile.TemporaryDirectory(prefix="datahygiene-phase-") as folder:
        local = Path(folder) / "spool.arrow"
        Store.open(str(job.output)).get_file(job.spool_name, local)
        yield local


# -- task bodies (run on workers) ----------------------------------------------------------------------


def spill_shard(job: ShardJob, spool: Path | str, phase: Phase, ids: WorkArea | None, partitions: int) -> int:
    """Step 1 for one shard: the phase's keys of every row, and its id hashes when ``ids`` (the id check)."""
    spiller = phase.spiller(job.shard.index)
    id_spill = IdSpill(ids, job.shard.index, partitions) if ids is not None else None
    with spool_file(job, spool) as local:
        for scored in read_spool(local, job.config, decode_images=True):
            spiller.add(Batch(records=scored.records, images=scored.images, artifacts=scored.artifacts))
            if id_spill is not None:
                id_spill.add(scored.records.column(C.ID))
    rows = spiller.close()
    if id_spill is not None:
        id_spill.close()
    return rows


def commit_task(
    job: ShardJob, spool: Path | str, scoring: ChainSummary, stand_in: StandIn, phase: Phase, rows: int, ids: Any
) -> dict[str, Any]:
    """Commit one shard with the phase's columns and id marks (``ids``: the id work area, or None)."""
    supplied = {stand_in.name: phase.columns(job.shard.index, rows)}
    marks = duplicate_mask(ids, job.shard.index, rows) if ids is not None else None
    amend = {stand_in.name: functools.partial(phase.amendments, job.shard.index, rows)} if stand_in.amends else None
    return commit_shard(job, spool, scoring, [stand_in], supplied, marks, amend)


# -- the committing process --------------------------------------------------------------------------


@dataclass
class PhaseRecord:
    """``phase.json``: what the phase decided over (written once every decision is made)."""

    key: str
    token: str
    base: list[str]
    segment_rows: list[int]
    shard_rows: list[int]

    @property
    def earlier(self) -> int:
        """Representatives the index held when the run started."""
        return sum(self.segment_rows)


def _map(client: TaskClient, func: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
    return list(client.gather([client.submit(func, *call) for call in calls]))


def run_phase(client: TaskClient, plan: RunPlan, scored: Sequence[ScoredShard], phase: Phase) -> PhaseRecord:
    """Steps 1-2 (or the record of an earlier attempt that finished them, for the same config and inputs)."""
    work = WorkArea(work_location(plan))
    key = phase_key(plan.config, plan)
    if work.exists("phase.json"):
        saved = PhaseRecord(**work.read_json("phase.json"))
        if saved.key == key:
            return saved
    if plan.committed:
        raise RuntimeError(f"{plan.run_dir.name}: shards were committed without the phase's decisions")
    by_index = {item.index: item for item in scored}
    missing = [shard.shard_id for shard in plan.shards if shard.index not in by_index]
    if missing:
        raise RuntimeError(f"the {phase.name} phase needs every shard scored; not scored: {', '.join(missing[:3])}")
    partitions = phase.partitions
    ids = work.child("ids") if plan.config.check_duplicate_ids else None
    base = phase.index_segments()
    segment_rows = _map(client, phase.spill_segment, list(enumerate(base)))
    output = plan.run_dir.location
    jobs = [ShardJob(plan.config, plan.context, output, shard, shard_key(plan.config, shard)) for shard in plan.shards]
    calls = [(job, by_index[job.shard.index].spool, phase, ids, partitions) for job in jobs]
    shard_rows = _map(client, spill_shard, calls)
    if ids is not None:
        indices = [shard.index for shard in plan.shards]
        _map(client, resolve_ids, [(ids, p, indices) for p in range(partitions)])
    summary = phase.decide(client, segment_rows, shard_rows)
    log.info("%s phase: %s", phase.name, summary)
    record = PhaseRecord(key, uuid.uuid4().hex, base, segment_rows, shard_rows)
    work.write_json("phase.json", record.__dict__)
    return record


def stand_in(phase: Phase, record: PhaseRecord) -> StandIn:
    """What the commit tasks run in place of the stage (its name, columns, roles and description)."""
    return StandIn(
        phase.name, phase.version, phase.schema, phase.describe(record.earlier), dict(phase.roles), phase.amends
    )


def prepare(committer: PartitionedCommitter, phase: Phase, record: PhaseRecord, scoring: ChainSummary | None) -> None:
    """Give the committer the pipeline with the stand-in (nothing of the stage loads in this process)."""
    plan = committer.plan
    if scoring is None:  # nothing scored in this attempt (every shard committed before): the scoring stages' summary
        scoring = StageChain.build(split_stages(plan.config)[0], plan.context).summary()
    committer.use(supplied_pipeline(plan.config, plan.context, scoring, [stand_in(phase, record)]), None)


def publish(client: TaskClient, plan: RunPlan, phase: Phase, record: PhaseRecord) -> list[str]:
    """Every shard committed: this run's representatives become index segments (tasks), then one publish."""
    if plan.context.dedup_index is None:
        return []
    indices = [shard.index for shard in plan.shards]
    counts = _map(client, phase.representatives, [(index,) for index in indices])
    starts = [record.earlier + sum(counts[:position]) for position in range(len(counts))]
    _map(client, phase.segment, list(zip(indices, starts, strict=True)))
    return phase.publish(record.base, record.token, indices)


def started(plan: RunPlan) -> bool:
    """Whether an earlier attempt of this run finished the phase (it then resumes partitioned)."""
    return WorkArea(work_location(plan)).exists("phase.json")


def commit_calls(
    plan: RunPlan, jobs: Sequence[ShardJob], scored: Sequence[ScoredShard], phase: Phase, record: PhaseRecord
) -> list[tuple[Any, ...]]:
    """The arguments of each pending shard's commit task, in input order."""
    work = WorkArea(work_location(plan))
    ids = work.child("ids") if plan.config.check_duplicate_ids else None
    by_index = {item.index: item for item in scored}
    spec = stand_in(phase, record)
    calls = []
    for job in jobs:
        item = by_index[job.shard.index]
        rows = record.shard_rows[job.shard.index]
        calls.append((job, item.spool, item.scoring, spec, phase, rows, ids))
    return calls


def commit_with_phase(
    client: TaskClient,
    plan: RunPlan,
    jobs: Sequence[ShardJob],
    scored: Sequence[ScoredShard],
    partitions: int,
    listener: ProgressListener | None = None,
) -> tuple[PartitionedCommitter, list[int]] | None:
    """Decide with the phase's tasks, commit every pending shard as a task, records in input order; then publish.

    Returns the committer (its lock held; the caller finishes and closes it) and the shards committed now, or
    ``None`` when the run's stages offer no phase (commit serially). On an error the committer is closed.
    """
    summary = scored[0].scoring if scored else None
    phase = find_phase(plan, summary or ChainSummary(), partitions)
    if phase is None:
        return None
    committer = PartitionedCommitter(plan, listener)
    committer.attach()  # the lock first: nobody else writes into this output while the phase runs
    committed_now: list[int] = []
    try:
        record = run_phase(client, plan, scored, phase)
        log.info("%s phase decided over %d partitions; committing %d shard(s)", phase.name, partitions, len(jobs))
        prepare(committer, phase, record, summary)
        futures = [client.submit(commit_task, *call) for call in commit_calls(plan, jobs, scored, phase, record)]
        for job, future in zip(jobs, futures, strict=True):
            if "error" not in committer.record(job.shard, future.result()):
                committed_now.append(job.shard.index)
                remove_spool(plan, job)
        if not committer.failures:
            publish(client, plan, phase, record)
    except BaseException:
        committer.close()
        raise
    return committer, committed_now
