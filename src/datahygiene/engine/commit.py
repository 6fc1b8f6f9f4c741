"""Committing one shard: id checks, ordered stages, policy, two-phase write, stage state.

:class:`ShardRunner` holds the cross-shard state (the id index, the stateful
stages) and commits shards one at a time, in input order; a shard that fails
is rolled back so that the next one continues from the last commit.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene import __version__
from datahygiene.core import columns as C
from datahygiene.core.policy import Route
from datahygiene.core.stage import IMAGE_REPLACEMENTS, Batch, ScoredBatch
from datahygiene.core.timing import StageTimes
from datahygiene.engine.ids import IdIndex
from datahygiene.engine.pipeline import Pipeline
from datahygiene.engine.progress import ProgressListener
from datahygiene.io.sink import ROUTES, RunDir, ShardWriter, hf_features_metadata, release_unused_memory
from datahygiene.io.sources import ShardSource
from datahygiene.io.spool import SpooledBatches, write_spool

log = logging.getLogger(__name__)

# Batches between handing freed Arrow memory back to the OS (each time costs page faults later;
# never doing it lets peak RSS creep up with the row count; the writer thread does it per row group).
_RELEASE_EVERY = 8


class ShardRunner:
    """Processes and commits one shard at a time, keeping cross-shard state."""

    def __init__(self, pipeline: Pipeline, run_dir: RunDir, listener: ProgressListener) -> None:
        self.pipeline = pipeline
        self.run_dir = run_dir
        self.listener = listener
        self.ids = IdIndex(spill_dir=run_dir.root / "_tmp")
        self.last_state: Path | None = None
        self.models = pipeline.models()
        self._ids_staged = False

    def restore(self, committed: dict[int, dict[str, Any]]) -> None:
        """Load the id index and stage state of already committed shards."""
        self.run_dir.fetch_state(committed)
        directories = [self.run_dir.state_dir(index) for index in sorted(committed)]
        if any((directory / PARTITIONED_MARK).exists() for directory in directories):
            raise PartitionedRunError(
                f"{self.run_dir.name} was committed by the partitioned flow, which keeps no per-shard dedup or id "
                "state; resume it with the flow on more than one worker (python flows/hygiene.py --runner dask ...)"
            )
        self.ids.load(directories)
        if directories:
            self.last_state = directories[-1]
            for stage in self.pipeline.stateful:
                stage.load_state(self.last_state / stage.name)

    def _rollback(self) -> None:
        if self._ids_staged:  # the shard's ids already left the index's pending list: rebuild from the commits
            self.ids.load([self.run_dir.state_dir(index) for index in sorted(self.run_dir.committed())])
        else:
            self.ids.rollback()
        for stage in self.pipeline.stateful:
            if self.last_state is not None:
                stage.load_state(self.last_state / stage.name)
            else:
                empty = self.run_dir.root / "_tmp" / "empty-state"
                empty.mkdir(parents=True, exist_ok=True)
                stage.load_state(empty)

    def commit(
        self, shard: ShardSource, batches: Iterable[ScoredBatch], started: float | None = None
    ) -> dict[str, Any]:
        """Run the ordered stages and the policy over a shard's scored batches, in order, and commit it.

        Returns the commit record, or an error record when anything failed (the
        shard's files and the stages' state are then rolled back). ``started``: when the shard's scoring
        began, if before this call (the CLI reads a shard ahead while the last one commits); the record's
        ``seconds`` count from then.
        """
        started = time.perf_counter() if started is None else started
        fingerprint = shard.fingerprint()
        writer = ShardWriter(self.run_dir, shard.index, file_metadata(self.pipeline, self.models, shard, fingerprint))
        tally = ShardTally()
        spool: Path | None = None
        self._ids_staged = False
        try:
            self._reserve_ids(shard)
            look_times = StageTimes()  # added after the batches' own, so the stages keep the pipeline's order
            batches, spool, looked = self._look_ahead(shard, batches, look_times)
            ids = self._id_check()
            for number, scored in enumerate(batches, start=1):
                commit_batch(self.pipeline, writer, scored, ids, tally)
                if not looked:
                    self.listener.rows_done(shard, scored.records.num_rows)
                if number % _RELEASE_EVERY == 0:
                    release_unused_memory()
            tally.times.absorb(look_times)
            with tally.times.measure("write", 0, 0, kind="engine"):
                writer.finish()
            self._save_state(writer.state_dir)
            # the last flush, the renames and the record can fail too (a full disk): the shard then fails alone
            record = writer.commit(tally.record(shard, fingerprint, time.perf_counter() - started))
        except Exception as error:  # noqa: BLE001 - one bad shard must not stop the others
            return self._fail(shard, writer, error, fingerprint)
        finally:
            if spool is not None:
                spool.unlink(missing_ok=True)
        self._state_committed(shard)
        return record

    def _look_ahead(
        self, shard: ShardSource, batches: Iterable[ScoredBatch], times: StageTimes
    ) -> tuple[Iterable[ScoredBatch], Path | None, bool]:
        """Show every batch of the shard to the stages that decide a shard at a time, then let them decide.

        Returns the batches to commit (the same ones again: reread from a spool file when ``batches`` can be
        read only once), that spool file (removed after the commit) and whether the stages looked (progress
        was then reported as the batches were scored). Each stage's looking and deciding is timed under its
        name in ``times`` (no rows: those are counted when the stage processes the batches).
        """
        stages = self.pipeline.ordered.lookahead()
        if not stages:
            return batches, None, False
        names = [str(getattr(stage, "name", type(stage).__name__)) for stage in stages]

        def shown() -> Iterator[ScoredBatch]:
            for scored in batches:
                batch = Batch(records=scored.records, images=scored.images, artifacts=scored.artifacts)
                for name, stage in zip(names, stages, strict=True):
                    with times.measure(name, 0, 0):
                        stage.look(batch)
                self.listener.rows_done(shard, scored.records.num_rows)
                yield scored

        # the stages after the whole-shard ones still need decoded images; those have looked already
        decode = len(self.pipeline.ordered.stages) > len(stages)
        spool: Path | None = None
        replay: Iterable[ScoredBatch] = batches
        if isinstance(batches, SpooledBatches):
            for scored in shown():  # this pass's decode is work of its own: the replay reads the spool again
                if (redecode := scored.times.entries.get("redecode")) is not None:
                    times.add("redecode", redecode.seconds, redecode.rows, redecode.bytes, redecode.kind)
            replay = replace(batches, decode_images=decode)
        elif isinstance(batches, Iterator):  # scored as it is read (the CLI): keep a copy to read again
            spool = self.run_dir.root / "_tmp" / f"lookahead-{shard.index:05d}.arrow"
            write_spool(spool, shown(), self.pipeline.scoring_summary)
            replay = SpooledBatches(spool, self.pipeline.config, decode_images=decode)
        else:
            for _ in shown():
                pass
        for name, stage in zip(names, stages, strict=True):
            with times.measure(name, 0, 0):
                stage.decide()
        return replay, spool, True

    def _reserve_ids(self, shard: ShardSource) -> None:
        """Size the duplicate-id table for the shard up front when its row count is known."""
        if self.pipeline.config.check_duplicate_ids:
            self.ids.reserve(shard.known_rows() or 0)

    def _id_check(self) -> IdCheck | None:
        """The duplicate-id check of a batch's rows against every id seen so far (None when it is off)."""
        if not self.pipeline.config.check_duplicate_ids:
            return None
        return lambda records: self.ids.check_and_add(records.column(C.ID))

    def _save_state(self, state_dir: Path) -> None:
        """Stage the id index and every stateful stage's state with the shard's files (moved in by the commit)."""
        self.ids.commit(state_dir)
        self._ids_staged = True
        for stage in self.pipeline.stateful:
            (state_dir / stage.name).mkdir()
            stage.save_state(state_dir / stage.name)

    def _state_committed(self, shard: ShardSource) -> None:
        """The commit moved the staged state: tell the stages where it lives now."""
        self.last_state = self.run_dir.state_dir(shard.index)
        for stage in self.pipeline.stateful:
            stage.state_moved(self.last_state / stage.name)

    def _fail(self, shard: ShardSource, writer: ShardWriter, error: Exception, fingerprint: str) -> dict[str, Any]:
        """Drop the shard's files, roll the cross-shard state back to the last commit, return the error record."""
        writer.abort()
        self._rollback()
        log.error("shard %s failed: %s", shard.shard_id, error)
        return failure_record(shard, error, fingerprint)


class PartitionedRunError(RuntimeError):
    """A run committed by the partitioned flow cannot be resumed one shard at a time (no per-shard state)."""


#: The state file a commit task of the partitioned flow leaves instead of the id and dedup state.
PARTITIONED_MARK = "partitioned.json"


def file_metadata(
    pipeline: Pipeline, models: list[dict[str, Any]], shard: ShardSource, fingerprint: str
) -> dict[bytes, bytes]:
    """The Parquet key-value metadata of a shard's files: provenance and the HF features."""
    provenance = {
        "version": __version__,
        "config_sha256": pipeline.config.sha256(),
        "shard": {"index": shard.index, "id": shard.shard_id, "kind": shard.kind, "fingerprint": fingerprint},
        "models": models,
        "policy": [rule.model_dump() for rule in pipeline.config.policy.rules],
    }
    return {
        b"datahygiene": json.dumps(provenance, sort_keys=True, default=str).encode(),
        **hf_features_metadata(pipeline.schema),
    }


#: The ``duplicate_id`` marks of a batch's rows (the runner's id index, or the partitioned flow's answers).
IdCheck = Callable[[pa.RecordBatch], npt.NDArray[np.bool_]]


def decide(
    pipeline: Pipeline, scored: ScoredBatch, ids: IdCheck | None, times: StageTimes
) -> tuple[pa.RecordBatch, npt.NDArray[np.int8]]:
    """Duplicate ids, ordered stages and policy over one batch: rows to write (reasons appended) and routes.

    Each step is timed into ``times`` (the id check and the policy as engine work, the stages by name).
    """
    records, reasons = scored.records, scored.reasons
    rows, nbytes = records.num_rows, records.nbytes
    if ids is not None:
        with times.measure("duplicate_ids", rows, nbytes, kind="engine"):
            reasons.add_mask(ids(records), "duplicate_id")
    batch = Batch(records=records, images=scored.images, artifacts=scored.artifacts)
    batch = pipeline.ordered.score(batch, times)
    with times.measure("policy", rows, batch.records.nbytes, kind="engine"):
        verdicts = pipeline.policy.decide(batch.records, reasons)
    records_out = replace_kept_images(batch.records, verdicts.route, batch.artifacts.get(IMAGE_REPLACEMENTS))
    return records_out.append_column(C.REASONS_FIELD, verdicts.reasons), verdicts.route


def commit_batch(
    pipeline: Pipeline, writer: ShardWriter, scored: ScoredBatch, ids: IdCheck | None, tally: ShardTally
) -> None:
    """Decide one batch (:func:`decide`), write each route's rows of it and count them, timing every step."""
    tally.times.absorb(scored.times)
    records, route = decide(pipeline, scored, ids, tally.times)
    tally.runner_rejected += int(scored.reasons.any().sum())  # input reasons and duplicate_id
    with tally.times.measure("write", records.num_rows, records.nbytes, kind="engine"):
        for route_name, value in zip(ROUTES, (Route.KEPT, Route.REJECTED, Route.QUARANTINED), strict=True):
            mask = route == value
            selected = int(mask.sum())
            if selected:
                writer.write(route_name, records if selected == records.num_rows else records.filter(pa.array(mask)))
                tally.rows[route_name] += selected
        tally.add_reasons(records.column(C.REJECT_REASONS))


@dataclass
class ShardTally:
    """Rows per route and reject reasons counted while a shard is written; becomes its commit record."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    reasons: dict[str, int] = field(default_factory=dict)
    times: StageTimes = field(default_factory=StageTimes)
    #: Rows the runner itself rejected (a reason from reading, decoding or the id check), before any stage's rule.
    runner_rejected: int = 0

    def add_reasons(self, reasons: pa.ListArray) -> None:
        """Count every reason of every row (a row with three reasons counts for each)."""
        for reason, count in _count_reasons(reasons).items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count

    def record(self, shard: ShardSource, fingerprint: str, seconds: float) -> dict[str, Any]:
        """The shard's commit record (the writer adds its files)."""
        return {
            "index": shard.index,
            "shard": shard.shard_id,
            "kind": shard.kind,
            "fingerprint": fingerprint,
            "rows_read": sum(self.rows.values()),
            "rows_kept": self.rows["kept"],
            "rows_rejected": self.rows["rejected"],
            "rows_quarantined": self.rows["quarantined"],
            "rows_rejected_by_runner": self.runner_rejected,
            "reject_reasons": dict(sorted(self.reasons.items())),
            "seconds": round(seconds, 3),
            "stages": self.times.records(),
        }


def failure_record(shard: ShardSource, error: BaseException, fingerprint: str | None = None) -> dict[str, Any]:
    """The record of a shard that could not be committed (listed as failed in the manifest)."""
    return {
        "index": shard.index,
        "shard": shard.shard_id,
        "kind": shard.kind,
        "fingerprint": shard.fingerprint() if fingerprint is None else fingerprint,
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error, limit=8)),
    }


def replace_kept_images(
    records: pa.RecordBatch, route: npt.NDArray[np.int8], replacements: dict[int, bytes] | None
) -> pa.RecordBatch:
    """``records`` with the image bytes of kept rows swapped for their replacements (e.g. blurred faces)."""
    rows = sorted(row for row in replacements or {} if route[row] == Route.KEPT)
    if not rows:
        return records
    assert replacements is not None
    index = records.schema.get_field_index(C.IMAGE)
    column = records.column(index)
    data = pc.struct_field(column, "bytes").to_pylist()
    for row in rows:
        data[row] = replacements[row]
    images = pa.StructArray.from_arrays(
        [pa.array(data, pa.binary()), pc.struct_field(column, "path")],
        fields=list(C.IMAGE_TYPE),
        mask=column.is_null(),
    )
    return records.set_column(index, C.IMAGE, images)


def _count_reasons(reasons: pa.ListArray) -> dict[str, int]:
    flat = reasons.flatten()
    if len(flat) == 0:
        return {}
    values, counts = np.unique(np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}
