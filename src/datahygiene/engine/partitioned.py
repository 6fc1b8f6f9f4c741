"""Committing in parallel: commit tasks on workers, the committing process only orders commit records.

In the partitioned flow every cross-shard decision is made before any shard is committed: the duplicate-id
check (:mod:`~datahygiene.engine.partition_ids`) and dedup (the stage's partitioned phase) run as tasks and
leave per-shard answers in a work area. Then one :func:`commit_shard` task per shard, on any worker and in
any order, reads the shard's spool and those answers, runs the ordered stages with dedup's columns supplied
by a :class:`SuppliedStage` (so the stages after it, the policy, image replacements and the file metadata are
the CLI's), writes the part files under their final names and returns the commit record *unwritten*. The
:class:`PartitionedCommitter` writes the records (in input order, each after checking the run's lock), the
manifest and the datasheet; it holds no rows, no index and no id set.

A commit task that a killed run left running writes the same bytes as the resumed run's task for that shard
(each attempt stages in its own folder), and only the lock holder writes commit records, so exactly-once holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.core.config import RunConfig
from datahygiene.core.stage import Batch, ChainSummary, Stage, StageContext, rows_between
from datahygiene.engine.commit import (
    PARTITIONED_MARK,
    ShardTally,
    commit_batch,
    failure_record,
    file_metadata,
)
from datahygiene.engine.pipeline import Pipeline
from datahygiene.engine.plan import RunPlan
from datahygiene.engine.progress import ProgressListener
from datahygiene.engine.run import Committer
from datahygiene.engine.workers import ShardJob
from datahygiene.io.sink import RunDir, ShardWriter, release_unused_memory
from datahygiene.io.sources import ShardSource
from datahygiene.io.spool import read_spool, read_spool_columns

log = logging.getLogger(__name__)
_RELEASE_EVERY = 8


@dataclass(frozen=True)
class StandIn:
    """What a replaced stage reports (name, version, columns, roles, description), so the files say the same."""

    name: str
    version: str
    schema: pa.Schema
    description: Mapping[str, Any]
    roles: Mapping[str, str] = field(default_factory=dict)
    #: Columns of earlier stages the replaced stage amends (dedup's inherited signals and their evidence).
    amends: tuple[str, ...] = ()


#: column -> {shard row: new value}: the values a stand-in gives earlier stages' columns (rows not named keep theirs).
Amendments = Mapping[str, Mapping[int, Any]]
#: Works out a shard's amendments from the spool's values of the columns a stand-in amends (those it has).
Amend = Callable[[Mapping[str, pa.ChunkedArray]], Amendments]


class SuppliedStage:
    """Stands in for an ordered stage whose columns were decided before the commit (the dedup phase).

    :meth:`supply` gives it a shard's columns (one row per input row) and the new values of the earlier stages'
    columns it amends; :meth:`process` hands them out batch by batch in input order.
    """

    def __init__(self, spec: StandIn) -> None:
        self.spec = spec
        self.name = spec.name
        self.version = spec.version
        self.column_roles = dict(spec.roles)
        self._table: pa.Table | None = None
        self._amendments: Amendments = {}
        self._at = 0

    def output_schema(self) -> pa.Schema:
        """The replaced stage's columns."""
        return self.spec.schema

    def describe(self) -> dict[str, Any]:
        """The replaced stage's description (the manifest and the file metadata record it)."""
        return dict(self.spec.description)

    def artifacts(self) -> dict[str, Any]:
        """Nothing is left for later stages."""
        return {}

    def amends(self) -> tuple[str, ...]:
        """The earlier stages' columns the replaced stage amends."""
        return self.spec.amends

    def supply(self, table: pa.Table, amendments: Amendments | None = None) -> None:
        """The columns of the next shard, aligned with its rows, and new values of amended columns by shard row."""
        self._table, self._amendments, self._at = table, amendments or {}, 0

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """The supplied columns of the batch's rows (the next ``num_rows`` of the shard)."""
        if self._table is None:
            raise RuntimeError(f"no columns supplied for stage {self.name!r}")
        part = self._table.slice(self._at, batch.num_rows)
        if part.num_rows != batch.num_rows:
            raise RuntimeError(f"stage {self.name!r}: the supplied columns end before the shard's rows do")
        start, self._at = self._at, self._at + batch.num_rows
        out = {spec.name: part.column(spec.name).combine_chunks() for spec in self.spec.schema}
        mine = rows_between(self._amendments, start, self._at)
        return out | batch.amended({name: rows for name, rows in mine.items() if batch.column(name) is not None})

    def release(self) -> None:
        """Forget the shard's columns."""
        self._table, self._amendments, self._at = None, {}, 0

    def finished(self) -> bool:
        """Whether every supplied row was handed out."""
        return self._table is None or self._at == self._table.num_rows


_local = threading.local()


def supplied_pipeline(
    config: RunConfig, context: StageContext, scoring: ChainSummary, stand_ins: list[StandIn]
) -> Pipeline:
    """The committing pipeline with stand-ins, built once per worker thread (a stand-in holds one shard's
    columns while it commits, so threads of one worker do not share it; later ordered stages load here)."""
    key = hashlib.sha256(f"{config.sha256()}|{context!r}|{scoring!r}|{stand_ins!r}".encode()).hexdigest()
    pipelines: dict[str, Pipeline] = _local.__dict__.setdefault("pipelines", {})
    pipeline = pipelines.get(key)
    if pipeline is None:
        replaced = {spec.name: cast(Stage, SuppliedStage(spec)) for spec in stand_ins}
        pipeline = Pipeline(config, context, scoring_summary=scoring, stand_ins=replaced)
        pipelines[key] = pipeline
    return pipeline


def commit_shard(
    job: ShardJob,
    spool: Path | str,
    scoring: ChainSummary,
    stand_ins: list[StandIn],
    supplied: Mapping[str, pa.Table],
    duplicate_ids: npt.NDArray[np.bool_] | None,
    amend: Mapping[str, Amend] | None = None,
) -> dict[str, Any]:
    """A commit task: write the shard's files under their final names; returns its commit record, unwritten.

    ``supplied``: each stand-in's columns for this shard; ``duplicate_ids``: the shard's ``duplicate_id``
    marks (None when the check is off); ``amend``: by stand-in, what works out its amendments from the whole
    shard's values of the columns it amends (read from the spool before the first batch is committed). An
    error record comes back when anything failed (nothing of the shard is then left but its staging folder's
    removal).
    """
    started = time.perf_counter()
    shard = job.shard
    pipeline = supplied_pipeline(job.config, job.context, scoring, stand_ins)
    stages = [stage for stage in pipeline.ordered.stages if isinstance(stage, SuppliedStage)]
    amend = amend or {}
    run_dir = RunDir.at(job.output)
    fingerprint = shard.fingerprint()
    metadata = file_metadata(pipeline, pipeline.models(), shard, fingerprint)
    writer = ShardWriter(run_dir, shard.index, metadata, tag=f"-{uuid.uuid4().hex[:12]}")
    tally = ShardTally()
    decode = any(not isinstance(stage, SuppliedStage) for stage in pipeline.ordered.stages)
    try:
        with tempfile.TemporaryDirectory(prefix="datahygiene-commit-") as folder:
            local = Path(spool)
            if run_dir.store is not None:
                local = Path(folder) / "spool.arrow"
                run_dir.store.get_file(job.spool_name, local)
            for stage in stages:
                wanted = stage.amends() if stage.name in amend else ()
                changes = amend[stage.name](read_spool_columns(local, wanted)) if wanted else None
                stage.supply(supplied[stage.name], changes)
            position = 0

            def marks(records: pa.RecordBatch) -> npt.NDArray[np.bool_]:
                assert duplicate_ids is not None
                return duplicate_ids[position : position + records.num_rows]

            ids = None if duplicate_ids is None else marks
            for number, scored in enumerate(read_spool(local, job.config, decode_images=decode), start=1):
                commit_batch(pipeline, writer, scored, ids, tally)
                position += scored.records.num_rows
                if number % _RELEASE_EVERY == 0:
                    release_unused_memory()
        if not all(stage.finished() for stage in stages) or (
            duplicate_ids is not None and position != len(duplicate_ids)
        ):
            raise RuntimeError(f"shard {shard.shard_id}: the phase's answers do not cover its {position} rows")
        with tally.times.measure("write", 0, 0, kind="engine"):
            writer.finish()
        mark = {"mode": "partitioned", "rows": position}
        (writer.state_dir / PARTITIONED_MARK).write_text(json.dumps(mark, sort_keys=True) + "\n")
        # the last flush and the publish can fail too (a full disk): the shard then fails alone, taken back
        return writer.publish(tally.record(shard, fingerprint, time.perf_counter() - started))
    except Exception as error:  # noqa: BLE001 - one bad shard must not stop the others
        writer.abort()
        log.error("shard %s failed: %s", shard.shard_id, error)
        return failure_record(shard, error, fingerprint)
    finally:
        for stage in stages:
            stage.release()
        run_dir.close()


class PartitionedCommitter(Committer):
    """The committing process of the partitioned flow: commit records in input order, the manifest, the datasheet.

    Lock the output first (:meth:`attach`), then give it the pipeline and the publisher (:meth:`use`):
    the publisher is called once every shard committed (the dedup phase adds this run's representatives to
    ``--dedup-index`` there).
    """

    def __init__(self, plan: RunPlan, listener: ProgressListener | None = None) -> None:
        super().__init__(plan, listener)
        self._pipeline: Pipeline | None = None
        self._publisher: Callable[[], None] | None = None
        self._open = False

    def use(self, pipeline: Pipeline, publish: Callable[[], None] | None) -> None:
        """The pipeline (with the stand-ins) whose models the manifest records, and the index publisher."""
        self._pipeline, self._publisher = pipeline, publish

    @property
    def attached(self) -> bool:
        return self._open

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("give the committer its pipeline (use) before committing")
        return self._pipeline

    def attach(self, pipeline: Pipeline | None = None) -> None:
        """Lock and start (or continue) the output; no state is restored (the phase decided every shard)."""
        self._open_output()
        self._open = True
        self.listener.run_started(self.plan.pending, skipped=len(self.plan.shards) - len(self.plan.pending))

    def record(self, shard: ShardSource, record: dict[str, Any]) -> dict[str, Any]:
        """Write a commit task's record (the shard's commit point), or note its failure."""
        if shard.index in self.committed:
            raise RuntimeError(f"shard {shard.shard_id} is already committed")
        if "error" not in record:
            self.plan.run_dir.write_commit_record(shard.index, record)
        self._record(shard, record)
        return record

    def _publish(self) -> None:
        if self._publisher is not None:
            self._publisher()
