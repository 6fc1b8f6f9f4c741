"""Stages and policy built from a config, split into an order-free and an ordered part.

Stages before the first stateful stage (scorers, taggers) decide each row on
its own, so shards may be scored in any order, on any worker. The stateful
stages (dedup) and everything after them must see the rows in input order;
they run where the shards are committed. :func:`score_batches` is the
order-free half: read, normalise, decode, score.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

import pyarrow as pa

from datahygiene.core import columns as C
from datahygiene.core import registry
from datahygiene.core.config import ConfigError, RunConfig
from datahygiene.core.policy import Policy
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import (
    ArtifactKind,
    Batch,
    ChainSummary,
    LookaheadStage,
    ScoredBatch,
    Stage,
    StageContext,
    StageParams,
    StatefulStage,
    amended_columns,
    is_stateful_class,
    tell_upstream,
)
from datahygiene.core.timing import StageTimes
from datahygiene.engine.progress import ProgressListener
from datahygiene.io.decode import decode_batch_images, has_images
from datahygiene.io.normalize import ShardContext, normalize
from datahygiene.io.sources import ByteMeter, ShardSource


def scoring_split(config: RunConfig) -> int:
    """Number of leading stages that may run on shards in any order (those before the first stateful one)."""
    for position, stage in enumerate(config.stages):
        if registry.is_stateful(stage.name):
            return position
    return len(config.stages)


def split_stages(config: RunConfig) -> tuple[list[tuple[str, StageParams]], list[tuple[str, StageParams]]]:
    """The config's stages as (order-free scoring stages, ordered stages), each as (name, params)."""
    params = config.stage_params()
    split = scoring_split(config)
    return params[:split], params[split:]


def _declared_artifacts(stage: Stage) -> dict[str, ArtifactKind]:
    """What a stage says it leaves in ``Batch.artifacts`` (none for a plugin without the declaration)."""
    declare = getattr(stage, "artifacts", None)
    return dict(declare()) if callable(declare) else {}


class StageChain:
    """Stages applied one after another, each adding its columns (checked against its schema)."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    @classmethod
    def build(
        cls,
        params: list[tuple[str, StageParams]],
        context: StageContext,
        stand_ins: Mapping[str, Stage] | None = None,
    ) -> StageChain:
        """Instantiate the named stages (this is where models load); a stage named in ``stand_ins`` is replaced."""
        stand_ins = stand_ins or {}
        return cls(
            [stand_ins.get(name) or registry.create(name, stage_params, context) for name, stage_params in params]
        )

    @property
    def stateful(self) -> list[StatefulStage]:
        return [cast(StatefulStage, stage) for stage in self.stages if is_stateful_class(type(stage))]

    def summary(self) -> ChainSummary:
        """Columns by owning stage, and what each stage runs (for the manifest and file metadata)."""
        return ChainSummary(
            fields=tuple((stage.name, stage_field) for stage in self.stages for stage_field in stage.output_schema()),
            models=tuple(
                {
                    "stage": stage.name,
                    "version": stage.version,
                    "columns": [stage_field.name for stage_field in stage.output_schema()],
                    **stage.describe(),
                }
                for stage in self.stages
            ),
            artifacts=tuple(
                (name, str(kind)) for stage in self.stages for name, kind in _declared_artifacts(stage).items()
            ),
            roles=tuple(
                (column, str(role))
                for stage in self.stages
                for column, role in getattr(stage, "column_roles", {}).items()
            ),
        )

    def score(self, batch: Batch, times: StageTimes | None = None) -> Batch:
        """Run every stage; each adds its columns, checked against its schema (and replaces those it amends),
        and is timed into ``times``."""
        for stage in self.stages:
            started = time.perf_counter()
            added = stage.process(batch)
            columns: dict[str, pa.Array] = {}
            for stage_field in stage.output_schema():
                values = added.get(stage_field.name)
                if values is None or len(values) != batch.num_rows:
                    raise RuntimeError(f"stage {stage.name!r} returned no or wrong-length column {stage_field.name!r}")
                columns[stage_field.name] = values if values.type == stage_field.type else values.cast(stage_field.type)
            if times is not None:
                times.add(stage.name, time.perf_counter() - started, batch.num_rows, batch.records.nbytes)
            amended = {name: added[name] for name in amended_columns(stage) if name in added}
            batch = batch.with_columns(columns).replacing(amended) if amended else batch.with_columns(columns)
        return batch

    def lookahead(self) -> list[LookaheadStage]:
        """The stages that must see a whole shard first (leading the chain; see :class:`LookaheadStage`)."""
        found = [s for s in self.stages if isinstance(s, LookaheadStage) and s.looks_ahead()]
        if found and self.stages[: len(found)] != found:
            raise ConfigError(
                f"stage {found[-1].name!r} looks at whole shards and must come first among the ordered stages"
            )
        return cast(list[LookaheadStage], found)


class Pipeline:
    """Stages and policy built from a config, with their combined output schema.

    ``scoring`` holds the order-free stages when they are built here (the CLI);
    pass ``scoring_summary`` instead when they run on workers (the flows), so
    this process loads only the ordered stages' models. ``stand_ins`` replace
    ordered stages by name (the partitioned flow supplies dedup's columns
    from its phase's decisions).
    """

    def __init__(
        self,
        config: RunConfig,
        context: StageContext,
        *,
        scoring_summary: ChainSummary | None = None,
        stand_ins: Mapping[str, Stage] | None = None,
    ) -> None:
        self.config = config
        self.context = context
        scoring_params, ordered_params = split_stages(config)
        self.scoring: StageChain | None = None
        if scoring_summary is None:
            self.scoring = StageChain.build(scoring_params, context)
            scoring_summary = self.scoring.summary()
        #: What the order-free stages add and leave (a spool of scored batches needs it).
        self.scoring_summary = scoring_summary
        self.ordered = StageChain.build(ordered_params, context, stand_ins)
        upstream = {f.name for f in C.BASE_SCHEMA} | {stage_field.name for _, stage_field in scoring_summary.fields}
        for stage in self.ordered.stages:
            tell_upstream(stage, frozenset(upstream))
            upstream.update(stage_field.name for stage_field in stage.output_schema())
        self.ordered.lookahead()  # a misplaced whole-shard stage is a config error, found before any work
        ordered_summary = self.ordered.summary()
        fields = list(C.BASE_SCHEMA)
        owners = {f.name: "input" for f in fields}
        for owner, stage_field in (*scoring_summary.fields, *ordered_summary.fields):
            if stage_field.name in owners:
                raise ConfigError(
                    f"stage {owner!r} adds column {stage_field.name!r}, already added by {owners[stage_field.name]}"
                )
            owners[stage_field.name] = owner
            fields.append(stage_field)
        self.schema = pa.schema(fields)
        self.policy = Policy(list(config.policy.rules), self.schema)
        self._models = [*scoring_summary.models, *ordered_summary.models]
        #: Column -> role, for the reports (the manifest records it; the datasheet finds columns by role).
        self.column_roles = dict((*scoring_summary.roles, *ordered_summary.roles))

    @property
    def stateful(self) -> list[StatefulStage]:
        return self.ordered.stateful

    def models(self) -> list[dict[str, Any]]:
        """What each stage runs, for the manifest and the file metadata."""
        return [dict(model) for model in self._models]


def read_batches(
    shard: ShardSource, config: RunConfig, meter: ByteMeter | None = None
) -> Iterator[tuple[pa.RecordBatch, Reasons]]:
    """The shard's rows normalised to the canonical columns, in input order, with their input reasons."""
    context = ShardContext(
        shard_id=shard.shard_id, root=shard.root, columns=config.columns, max_text_chars=config.limits.max_text_chars
    )
    size = config.image_batch_size if shard.kind in ("images", "webdataset") else config.batch_size
    first_row = 0
    for source in shard.read(size, config.batch_bytes, meter):
        records, reasons = normalize(source, context, first_row)
        first_row += records.num_rows
        step = config.image_batch_size if has_images(records) else max(records.num_rows, 1)
        for start in range(0, records.num_rows, step):
            part = Reasons(min(step, records.num_rows - start))
            part.extend_slice(reasons, start, start + step)
            yield records.slice(start, step), part


def score_batches(
    shard: ShardSource, config: RunConfig, scoring: StageChain, listener: ProgressListener | None = None
) -> Iterator[ScoredBatch]:
    """Read, normalise, decode and run the order-free stages over one shard, each step timed per batch
    (``listener`` hears each read, with the bytes read so far)."""
    meter = ByteMeter() if listener is not None else None
    batches = read_batches(shard, config, meter)
    full_images = config.needs_full_images()
    while True:
        started = time.perf_counter()
        item = next(batches, None)
        if item is None:
            return
        records, reasons = item
        times = StageTimes()
        times.add("read", time.perf_counter() - started, records.num_rows, records.nbytes, kind="engine")
        if listener is not None:
            listener.batch_read(shard, records.num_rows, meter.bytes if meter is not None and meter.bytes else None)
        started = time.perf_counter()
        images = decode_batch_images(records, reasons, config, reduced=not full_images)
        if images is not None:
            times.add("decode", time.perf_counter() - started, records.num_rows, records.nbytes, kind="engine")
        batch = scoring.score(Batch(records=records, images=images), times)
        yield ScoredBatch(records=batch.records, reasons=reasons, images=images, artifacts=batch.artifacts, times=times)
