"""Stages and policy built from a config, split into an order-free and an ordered part.

Stages before the first stateful stage (scorers, taggers) decide each row on
its own, so shards may be scored in any order, on any worker. The stateful
stages (dedup) and everything after them must see the rows in input order;
they run where the shards are committed. :func:`score_batches` is the
order-free half: read, normalise, decode, score.
"""

from __future__ import annotations

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
    ScoredBatch,
    Stage,
    StageContext,
    StageParams,
    StatefulStage,
    is_stateful_class,
)
from datahygiene.io.decode import decode_batch_images, has_images
from datahygiene.io.normalize import ShardContext, normalize
from datahygiene.io.sources import ShardSource


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
        self.ordered = StageChain.build(ordered_params, context, stand_ins)
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


def read_batches(shard: ShardSource, config: RunConfig) -> Iterator[tuple[pa.RecordBatch, Reasons]]:
    """The shard's rows normalised to the canonical columns, in input order, with their input reasons."""
    context = ShardContext(shard_id=shard.shard_id, root=shard.root, columns=config.columns)
    size = config.image_batch_size if shard.kind in ("images", "webdataset") else config.batch_size
    first_row = 0
    for source in shard.read(size):
        records, reasons = normalize(source, context, first_row)
        first_row += records.num_rows
        step = config.image_batch_size if has_images(records) else max(records.num_rows, 1)
        for start in range(0, records.num_rows, step):
            part = Reasons(min(step, records.num_rows - start))
            part.extend_slice(reasons, start, start + step)
            yield records.slice(start, step), part


def score_batches(shard: ShardSource, config: RunConfig, scoring: StageChain) -> Iterator[ScoredBatch]:
    """Read, normalise, decode and run the order-free stages over one shard."""
    for records, reasons in read_batches(shard, config):
        images = decode_batch_images(records, reasons, config)
        batch = scoring.score(Batch(records=records, images=images))
        yield ScoredBatch(records=batch.records, reasons=reasons, images=images, artifacts=batch.artifacts)
