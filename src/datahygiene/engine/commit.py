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
from collections.abc import Iterable
from dataclasses import dataclass, field
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
from datahygiene.engine.ids import IdIndex
from datahygiene.engine.pipeline import Pipeline
from datahygiene.engine.progress import ProgressListener
from datahygiene.io.sink import ROUTES, RunDir, ShardWriter, hf_features_metadata, release_unused_memory
from datahygiene.io.sources import ShardSource

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
        self.ids.rollback()
        for stage in self.pipeline.stateful:
            if self.last_state is not None:
                stage.load_state(self.last_state / stage.name)
            else:
                empty = self.run_dir.root / "_tmp" / "empty-state"
                empty.mkdir(parents=True, exist_ok=True)
                stage.load_state(empty)

    def commit(self, shard: ShardSource, batches: Iterable[ScoredBatch]) -> dict[str, Any]:
        """Run the ordered stages and the policy over a shard's scored batches, in order, and commit it.

        Returns the commit record, or an error record when anything failed (the
        shard's files and the stages' state are then rolled back).
        """
        fingerprint = shard.fingerprint()
        writer = ShardWriter(self.run_dir, shard.index, file_metadata(self.pipeline, self.models, shard, fingerprint))
        tally = ShardTally()
        started = time.perf_counter()
        try:
            self._reserve_ids(shard)
            check_ids = self.pipeline.config.check_duplicate_ids
            for number, scored in enumerate(batches, start=1):
                duplicate = self.ids.check_and_add(scored.records.column(C.ID)) if check_ids else None
                commit_batch(self.pipeline, writer, scored, duplicate, tally)
                self.listener.rows_done(shard, scored.records.num_rows)
                if number % _RELEASE_EVERY == 0:
                    release_unused_memory()
            self._save_state(writer.state_dir)
        except Exception as error:  # noqa: BLE001 - one bad shard must not stop the others
            return self._fail(shard, writer, error, fingerprint)
        record = writer.commit(tally.record(shard, fingerprint, time.perf_counter() - started))
        self._state_committed(shard)
        return record

    def _reserve_ids(self, shard: ShardSource) -> None:
        """Size the duplicate-id table for the shard up front when its row count is known."""
        if self.pipeline.config.check_duplicate_ids:
            self.ids.reserve(shard.known_rows() or 0)

    def _save_state(self, state_dir: Path) -> None:
        """Stage the id index and every stateful stage's state with the shard's files (moved in by the commit)."""
        self.ids.commit(state_dir)
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


def decide(
    pipeline: Pipeline, scored: ScoredBatch, duplicate_ids: npt.NDArray[np.bool_] | None
) -> tuple[pa.RecordBatch, npt.NDArray[np.int8]]:
    """Duplicate ids, ordered stages and policy over one batch: rows to write (reasons appended) and routes."""
    records, reasons = scored.records, scored.reasons
    if duplicate_ids is not None:
        reasons.add_mask(duplicate_ids, "duplicate_id")
    batch = pipeline.ordered.score(Batch(records=records, images=scored.images, artifacts=scored.artifacts))
    verdicts = pipeline.policy.decide(batch.records, reasons)
    records_out = replace_kept_images(batch.records, verdicts.route, batch.artifacts.get(IMAGE_REPLACEMENTS))
    return records_out.append_column(C.REASONS_FIELD, verdicts.reasons), verdicts.route


def commit_batch(
    pipeline: Pipeline,
    writer: ShardWriter,
    scored: ScoredBatch,
    duplicate_ids: npt.NDArray[np.bool_] | None,
    tally: ShardTally,
) -> None:
    """Decide one batch (:func:`decide`), write each route's rows of it and count them."""
    records, route = decide(pipeline, scored, duplicate_ids)
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
            "reject_reasons": dict(sorted(self.reasons.items())),
            "seconds": round(seconds, 3),
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
