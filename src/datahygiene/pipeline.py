"""Stages and policy built from a config, split into an order-free and an ordered part.

Stages before the first stateful stage (scorers, taggers) decide each row on
its own, so shards may be scored in any order, on any worker. The stateful
stages (dedup) and everything after them must see the rows in input order;
they run where the shards are committed. :func:`score_batches` is the
order-free half: read, normalise, decode, score.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from PIL import Image

from datahygiene import columns as C
from datahygiene import registry
from datahygiene.config import ConfigError, RunConfig
from datahygiene.decode import decode_images
from datahygiene.io.normalize import METADATA, ShardContext, normalize
from datahygiene.io.sources import ShardSource
from datahygiene.policy import Policy
from datahygiene.reasons import Reasons
from datahygiene.stage import Batch, Stage, StageContext, StageParams, StatefulStage

#: Columns every batch has before any stage runs (passthrough columns vary by input).
BASE_SCHEMA = pa.schema(
    [
        *(pa.field(role, C.ROLE_TYPES[role]) for role in C.ROLES),
        pa.field(METADATA, pa.string()),
        *C.TRAILER_FIELDS,
    ]
)

_STATE_METHODS = ("save_state", "load_state", "state_moved", "commit_run")


def is_stateful(stage_name: str) -> bool:
    """Whether the registered stage keeps state across rows (and so needs input order)."""
    cls = registry.get(stage_name)
    return all(callable(getattr(cls, method, None)) for method in _STATE_METHODS)


def scoring_split(config: RunConfig) -> int:
    """Number of leading stages that may run on shards in any order (those before the first stateful one)."""
    for position, stage in enumerate(config.stages):
        if is_stateful(stage.name):
            return position
    return len(config.stages)


@dataclass(frozen=True)
class ChainSummary:
    """What a chain of stages adds and runs, without the stages: sent from workers to the committer."""

    fields: tuple[tuple[str, pa.Field], ...] = ()
    models: tuple[dict[str, Any], ...] = ()


class StageChain:
    """Stages applied one after another, each adding its columns (checked against its schema)."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    @classmethod
    def build(cls, params: list[tuple[str, StageParams]], context: StageContext) -> StageChain:
        """Instantiate the named stages (this is where models load)."""
        return cls([registry.create(name, stage_params, context) for name, stage_params in params])

    @property
    def stateful(self) -> list[StatefulStage]:
        return [stage for stage in self.stages if isinstance(stage, StatefulStage)]

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
    this process loads only the ordered stages' models.
    """

    def __init__(
        self, config: RunConfig, context: StageContext, *, scoring_summary: ChainSummary | None = None
    ) -> None:
        self.config = config
        self.context = context
        params = config.stage_params()
        split = scoring_split(config)
        self.scoring: StageChain | None = None
        if scoring_summary is None:
            self.scoring = StageChain.build(params[:split], context)
            scoring_summary = self.scoring.summary()
        self.ordered = StageChain.build(params[split:], context)
        ordered_summary = self.ordered.summary()
        fields = list(BASE_SCHEMA)
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

    @property
    def stateful(self) -> list[StatefulStage]:
        return self.ordered.stateful

    def models(self) -> list[dict[str, Any]]:
        """What each stage runs, for the manifest and the file metadata."""
        return [dict(model) for model in self._models]


@dataclass
class ScoredBatch:
    """A batch after the order-free stages: records with their columns, reasons so far, decoded images."""

    records: pa.RecordBatch
    reasons: Reasons
    images: list[Image.Image | None] | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)


def has_images(records: pa.RecordBatch) -> bool:
    """Whether any row of the batch carries image bytes."""
    column = records.column(C.IMAGE)
    return bool(column.null_count < records.num_rows)


def decode_batch_images(
    records: pa.RecordBatch, reasons: Reasons, config: RunConfig
) -> list[Image.Image | None] | None:
    """Decode the batch's images (``None`` when it has none); failures become reasons."""
    if not has_images(records):
        return None
    return decode_images(
        records.column(C.IMAGE),
        reasons,
        max_pixels=config.limits.max_image_pixels,
        max_bytes=config.limits.max_image_bytes,
    )


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
