"""The shard runner: source -> normalise -> decode -> stages -> policy -> sinks.

The CLI and the Prefect flows both call :func:`run`. Shards are processed in
input order, one at a time, and each is committed atomically (see
:mod:`datahygiene.io.sink`), so a rerun with ``resume=True`` skips what was
committed and produces byte-identical files for the rest.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene import __version__, registry
from datahygiene import columns as C
from datahygiene.config import ConfigError, RunConfig
from datahygiene.datasheet import write_datasheet
from datahygiene.decode import decode_images
from datahygiene.ids import IdIndex
from datahygiene.io.normalize import METADATA, ShardContext, normalize
from datahygiene.io.sink import ROUTES, RunDir, ShardWriter, atomic_write_json
from datahygiene.io.sources import ShardSource, discover
from datahygiene.manifest import build_manifest, check_invariants, hf_features_metadata
from datahygiene.policy import Policy, Route
from datahygiene.reasons import Reasons
from datahygiene.stage import IMAGE_REPLACEMENTS, Batch, Stage, StageContext, StatefulStage

log = logging.getLogger(__name__)

#: Columns every batch has before any stage runs (passthrough columns vary by input).
BASE_SCHEMA = pa.schema(
    [
        *(pa.field(role, C.ROLE_TYPES[role]) for role in C.ROLES),
        pa.field(METADATA, pa.string()),
        *C.TRAILER_FIELDS,
    ]
)


class OutputExistsError(RuntimeError):
    """The output directory holds data and ``--resume`` was not given."""


class ResumeMismatchError(RuntimeError):
    """``--resume`` on a directory written with another config or other inputs."""


class ProgressListener(Protocol):
    """Receives progress events; the CLI draws a bar from them."""

    def run_started(self, shards: list[ShardSource], skipped: int) -> None: ...

    def rows_done(self, shard: ShardSource, rows: int) -> None: ...

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None: ...


class _Silent:
    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        pass

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        pass

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None:
        pass


@dataclass
class RunResult:
    """What a run produced: the manifest and the process exit status."""

    manifest: dict[str, Any]
    output: Path
    failed_shards: list[str] = field(default_factory=list)
    invariant_errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.invariant_errors:
            return 3
        return 1 if self.failed_shards else 0


class Pipeline:
    """Stages and policy built from a config, with their combined output schema."""

    def __init__(self, config: RunConfig, context: StageContext) -> None:
        self.config = config
        self.context = context
        self.stages: list[Stage] = [registry.create(name, params, context) for name, params in config.stage_params()]
        fields = list(BASE_SCHEMA)
        owners = {f.name: "input" for f in fields}
        for stage in self.stages:
            for stage_field in stage.output_schema():
                if stage_field.name in owners:
                    owner = owners[stage_field.name]
                    raise ConfigError(
                        f"stage {stage.name!r} adds column {stage_field.name!r}, already added by {owner}"
                    )
                owners[stage_field.name] = stage.name
                fields.append(stage_field)
        self.schema = pa.schema(fields)
        self.policy = Policy(list(config.policy.rules), self.schema)

    @property
    def stateful(self) -> list[StatefulStage]:
        return [stage for stage in self.stages if isinstance(stage, StatefulStage)]

    def models(self) -> list[dict[str, Any]]:
        """What each stage runs, for the manifest and the file metadata."""
        return [
            {
                "stage": stage.name,
                "version": stage.version,
                "columns": [stage_field.name for stage_field in stage.output_schema()],
                **stage.describe(),
            }
            for stage in self.stages
        ]

    def score(self, batch: Batch) -> Batch:
        """Run every stage; each adds its columns, checked against its schema."""
        for stage in self.stages:
            added = stage.process(batch)
            columns: dict[str, pa.Array] = {}
            for stage_field in stage.output_schema():
                values = added.get(stage_field.name)
                if values is None or len(values) != batch.num_rows:
                    raise RuntimeError(f"stage {stage.name!r} returned no or wrong-length column {stage_field.name!r}")
                columns[stage_field.name] = values if values.type == stage_field.type else values.cast(stage_field.type)
            batch = batch.with_columns(columns)
        return batch


def _identity(config: RunConfig, shards: list[ShardSource]) -> dict[str, Any]:
    return {
        "config_sha256": config.sha256(),
        "inputs": [{"shard": s.shard_id, "kind": s.kind, "fingerprint": s.fingerprint()} for s in shards],
    }


def _check_output(run_dir: RunDir, identity: dict[str, Any], *, resume: bool) -> bool:
    """Whether ``run_dir`` continues an earlier run; raises when it may not be used."""
    if run_dir.identity_path.exists():
        if not resume:
            raise OutputExistsError(f"{run_dir.root} already holds a run; pass --resume to continue it")
        previous = json.loads(run_dir.identity_path.read_text())
        if previous != identity:
            what = "config" if previous.get("config_sha256") != identity["config_sha256"] else "inputs"
            raise ResumeMismatchError(f"cannot resume {run_dir.root}: its {what} differ from this run's")
        return True
    if not run_dir.is_empty():
        raise OutputExistsError(f"output directory {run_dir.root} is not empty")
    return False


def _start_output(run_dir: RunDir, identity: dict[str, Any], config: RunConfig) -> None:
    run_dir.root.mkdir(parents=True, exist_ok=True)
    (run_dir.root / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True))
    atomic_write_json(run_dir.identity_path, identity)


class ShardRunner:
    """Processes and commits one shard at a time, keeping cross-shard state."""

    def __init__(self, pipeline: Pipeline, run_dir: RunDir, listener: ProgressListener) -> None:
        self.pipeline = pipeline
        self.run_dir = run_dir
        self.listener = listener
        self.ids = IdIndex()
        self.last_state: Path | None = None
        self.models = pipeline.models()

    def restore(self, committed: dict[int, dict[str, Any]]) -> None:
        """Load the id index and stage state of already committed shards."""
        directories = [self.run_dir.state_dir(index) for index in sorted(committed)]
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

    def _file_metadata(self, shard: ShardSource, fingerprint: str) -> dict[bytes, bytes]:
        provenance = {
            "version": __version__,
            "config_sha256": self.pipeline.config.sha256(),
            "shard": {"index": shard.index, "id": shard.shard_id, "kind": shard.kind, "fingerprint": fingerprint},
            "models": self.models,
            "policy": [rule.model_dump() for rule in self.pipeline.config.policy.rules],
        }
        return {
            b"datahygiene": json.dumps(provenance, sort_keys=True, default=str).encode(),
            **hf_features_metadata(self.pipeline.schema),
        }

    def _batches(self, shard: ShardSource) -> Iterator[tuple[pa.RecordBatch, Reasons]]:
        config = self.pipeline.config
        context = ShardContext(shard_id=shard.shard_id, root=shard.root, columns=config.columns)
        size = config.image_batch_size if shard.kind in ("images", "webdataset") else config.batch_size
        first_row = 0
        for source in shard.read(size):
            records, reasons = normalize(source, context, first_row)
            first_row += records.num_rows
            has_images = records.column(C.IMAGE).null_count < records.num_rows
            step = config.image_batch_size if has_images else max(records.num_rows, 1)
            for start in range(0, records.num_rows, step):
                part = Reasons(min(step, records.num_rows - start))
                part.extend_slice(reasons, start, start + step)
                yield records.slice(start, step), part

    def process(self, shard: ShardSource) -> dict[str, Any]:
        """Process and commit one shard; returns its commit record (or an error record)."""
        config = self.pipeline.config
        fingerprint = shard.fingerprint()
        writer = ShardWriter(self.run_dir, shard.index, self._file_metadata(shard, fingerprint))
        counts = dict.fromkeys(ROUTES, 0)
        reason_counts: dict[str, int] = {}
        started = time.perf_counter()
        try:
            for records, reasons in self._batches(shard):
                if config.check_duplicate_ids:
                    reasons.add_mask(self.ids.check_and_add(records.column(C.ID)), "duplicate_id")
                images = None
                if records.column(C.IMAGE).null_count < records.num_rows:
                    images = decode_images(
                        records.column(C.IMAGE),
                        reasons,
                        max_pixels=config.limits.max_image_pixels,
                        max_bytes=config.limits.max_image_bytes,
                    )
                batch = self.pipeline.score(Batch(records=records, images=images))
                verdicts = self.pipeline.policy.decide(batch.records, reasons)
                records_out = replace_kept_images(
                    batch.records, verdicts.route, batch.artifacts.get(IMAGE_REPLACEMENTS)
                )
                scored = records_out.append_column(C.REASONS_FIELD, verdicts.reasons)
                for route_name, route in zip(ROUTES, (Route.KEPT, Route.REJECTED, Route.QUARANTINED), strict=True):
                    mask = verdicts.route == route
                    selected = int(mask.sum())
                    if selected:
                        rows = scored if selected == scored.num_rows else scored.filter(pa.array(mask))
                        writer.write(route_name, rows)
                        counts[route_name] += selected
                for reason, count in _count_reasons(verdicts.reasons).items():
                    reason_counts[reason] = reason_counts.get(reason, 0) + count
                self.listener.rows_done(shard, records.num_rows)
            state_dir = writer.state_dir
            self.ids.commit(state_dir)
            for stage in self.pipeline.stateful:
                (state_dir / stage.name).mkdir()
                stage.save_state(state_dir / stage.name)
        except Exception as error:  # noqa: BLE001 - one bad shard must not stop the others
            writer.abort()
            self._rollback()
            log.error("shard %s failed: %s", shard.shard_id, error)
            return {
                "index": shard.index,
                "shard": shard.shard_id,
                "kind": shard.kind,
                "fingerprint": fingerprint,
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=8),
            }
        record = {
            "index": shard.index,
            "shard": shard.shard_id,
            "kind": shard.kind,
            "fingerprint": fingerprint,
            "rows_read": sum(counts.values()),
            "rows_kept": counts["kept"],
            "rows_rejected": counts["rejected"],
            "rows_quarantined": counts["quarantined"],
            "reject_reasons": dict(sorted(reason_counts.items())),
            "seconds": round(time.perf_counter() - started, 3),
        }
        record = writer.commit(record)
        self.last_state = self.run_dir.state_dir(shard.index)
        for stage in self.pipeline.stateful:
            stage.state_moved(self.last_state / stage.name)
        return record


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


def run(
    config: RunConfig,
    inputs: list[str],
    output: Path,
    *,
    resume: bool = False,
    dedup_index: Path | None = None,
    listener: ProgressListener | None = None,
    write_documents: bool = True,
) -> RunResult:
    """Run the pipeline over ``inputs`` into ``output``; see the README for the contract."""
    started = time.time()
    listener = listener or _Silent()
    shards = discover(inputs, images_per_shard=config.limits.images_per_shard)
    context = StageContext(
        models_dir=config.models.dir,
        offline=config.models.offline,
        device=config.models.device,
        dedup_index=dedup_index,
    )
    run_dir = RunDir(output)
    identity = _identity(config, shards)
    # Check the output directory before loading any model, create it after the
    # pipeline (and so the policy) validated.
    resuming = _check_output(run_dir, identity, resume=resume)
    pipeline = Pipeline(config, context)
    if not resuming:
        _start_output(run_dir, identity, config)
    committed = run_dir.committed()
    runner = ShardRunner(pipeline, run_dir, listener)
    runner.restore(committed)
    listener.run_started(shards, skipped=sum(1 for s in shards if s.index in committed))
    failures: dict[int, dict[str, Any]] = {}
    for shard in shards:
        if shard.index in committed:
            continue
        record = runner.process(shard)
        if "error" in record:
            failures[shard.index] = record
        else:
            committed[shard.index] = record
        listener.shard_done(shard, record)
    if not failures:
        for stage in pipeline.stateful:
            stage.commit_run()
    manifest = build_manifest(
        config=config,
        shards=shards,
        committed=committed,
        failures=failures,
        models=runner.models,
        started=started,
        finished=time.time(),
    )
    atomic_write_json(run_dir.manifest_path, manifest)
    errors = check_invariants(run_dir, manifest)
    if write_documents:
        log.info("writing the datasheet (skip with --no-datasheet)")
        try:
            write_datasheet(output)
        except Exception as error:  # noqa: BLE001 - the documents must never fail a run whose data is committed
            log.warning("datasheet not written (rebuild it with `datahygiene datasheet %s`): %s", output, error)
    return RunResult(
        manifest=manifest,
        output=output,
        failed_shards=[record["shard"] for record in failures.values()],
        invariant_errors=errors,
    )
