"""The ``dedup`` stage as a partitioned phase of a run, for orchestrators that commit shards in parallel.

The engine builds the phase the stage class names (``DedupStage.phase``: :func:`dedup_phase`) and
drives it without knowing dedup: each shard's scored rows are spilled (:meth:`DedupPhase.spiller`, one
task per shard), the segments of ``--dedup-index`` too (:meth:`DedupPhase.spill_segment`), then
:meth:`DedupPhase.decide` runs the steps of :mod:`.partition_steps` as tasks; each commit task reads its
shard's three columns (:meth:`DedupPhase.columns`). Once every shard is committed,
:meth:`DedupPhase.segment` (per shard) and :meth:`DedupPhase.publish` add this run's representatives to
the index. The decisions are the streaming stage's, row for row, ``keep`` rules included (each shard's rows
are visited in the rule's order, :mod:`.keep`); the commit task also gives each kept row the signals its
duplicates in the same shard carry (:meth:`DedupPhase.amendments`, :mod:`.inherit`), as the stage does.
Semantic dedup is not partitioned: :meth:`DedupPhase.refusal` names that reason when the run has the
embeddings for it, and the flow then commits serially.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from datahygiene.core.stage import ColumnRole, StageParams
from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup import partition_index, partition_steps
from datahygiene.stages.dedup.dedup_stage import OUTPUT_SCHEMA, DedupStage, describe
from datahygiene.stages.dedup.inherit import Amendments, InheritedColumn, inherit
from datahygiene.stages.dedup.layout import Layout, shard_name
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.spill import SourceSpill, duplicates_of


@dataclass(frozen=True)
class DedupPhase:
    """The dedup phase of one run: settings, the shared work area, partitions and the cross-run index."""

    params: DedupParams
    work: WorkArea
    partitions: int
    dedup_index: Path | str | None = None

    name = "dedup"
    version = DedupStage.version
    schema = OUTPUT_SCHEMA

    @property
    def roles(self) -> Mapping[str, ColumnRole]:
        """The stage's column roles."""
        return DedupStage.column_roles

    def refusal(self, artifacts: Mapping[str, str], upstream: frozenset[str]) -> str | None:
        """Why the phase cannot decide as the stage would (None: it can); ``upstream``: columns before the stage.

        Semantic dedup with its embeddings in the run (``artifacts``) needs the embeddings' range search, which
        is not partitioned. ``keep`` rules and inherited signals are (``upstream`` is not needed for them: the
        commit task reads the signal columns the shard's spool has, which are the ones before the stage).
        """
        if self.params.semantic.enabled and self.params.semantic.artifact in artifacts:
            return f"semantic dedup (embeddings {self.params.semantic.artifact!r}) is not partitioned"
        return None

    @property
    def amends(self) -> tuple[str, ...]:
        """The columns the stage may amend: every ``inherit`` signal column and its evidence column."""
        return tuple(dict.fromkeys(name for spec in self._inherited for name in spec.names))

    @property
    def _inherited(self) -> list[InheritedColumn]:
        return [InheritedColumn.named(name) for name in self.params.inherit]

    def amendments(self, shard: int, rows: int, values: Mapping[str, pa.ChunkedArray]) -> Amendments:
        """New values of the shard's kept rows that inherit signals from duplicates in the same shard.

        ``values``: the shard's columns of :attr:`amends` that it has (an absent signal column is not
        inherited, as the stage skips columns no earlier stage produces).
        """
        specs = [spec for spec in self._inherited if spec.signals in values]
        if not specs:
            return {}
        name = shard_name(shard)
        found = duplicates_of(self.work, name)
        rep_row = np.full(rows, -1, dtype=np.int64)
        rep_row[np.asarray(found.column("row").to_numpy(), dtype=np.int64)] = found.column("rep_row").to_numpy()
        ids = self.work.read_table(f"shards/{name}/ids.parquet").column("id").to_pylist()
        return inherit([str(v) for v in ids], rep_row, values, specs)

    def describe(self, earlier: int) -> dict[str, Any]:
        """What the stage records in the manifest (``earlier``: representatives the index held at the start)."""
        return describe(self.params, self.dedup_index, earlier)

    # -- step 1 ------------------------------------------------------------------------------------
    def spiller(self, shard: int) -> SourceSpill:
        """Collects shard ``shard``'s rows batch by batch (``add``); ``close`` writes them, returns the rows."""
        return SourceSpill(self.work, shard_name(shard), self.params, self.partitions)

    def index_segments(self) -> list[str]:
        """The segments ``--dedup-index`` lists now (none without one)."""
        if self.dedup_index is None:
            return []
        return partition_index.index_segments(self.dedup_index, self.params)

    def spill_segment(self, position: int, segment: str) -> int:
        """Spill the ``position``-th index segment; returns its representatives."""
        if self.dedup_index is None:
            raise RuntimeError("no dedup index to read")
        name = f"i{position:05d}"
        return partition_index.spill_segment(self.dedup_index, segment, name, self.work, self.params, self.partitions)

    # -- steps 2-5, then per shard -------------------------------------------------------------------
    def decide(self, client: partition_steps.TaskClient, segments: list[int], shards: list[int]) -> dict[str, int]:
        """Every decision, as tasks on ``client``; ``segments``/``shards``: rows per index segment / shard."""
        return partition_steps.decide(client, self.work, Layout.of(segments, shards), self.params, self.partitions)

    def columns(self, shard: int, rows: int) -> pa.Table:
        """``dup_of``, ``dup_kind``, ``dup_similarity`` for each of the shard's ``rows`` rows, in input order."""
        return partition_steps.shard_decisions(self.work, shard_name(shard), rows)

    # -- the cross-run index ---------------------------------------------------------------------------
    def representatives(self, shard: int) -> int:
        """How many of the shard's rows become representatives of the index (usable, no duplicate)."""
        return len(partition_index.representative_rows(self.work, shard_name(shard)))

    def segment(self, shard: int, rep_start: int) -> int:
        """Write the shard's representatives as an index segment numbered from ``rep_start``; returns them."""
        return partition_index.shard_segment(self.work, shard_name(shard), rep_start, self.params)

    def publish(self, base: list[str], token: str, shards: list[int]) -> list[str]:
        """Add the shards' segments to the index (once; a resumed run adds nothing twice); returns new names."""
        if self.dedup_index is None:
            return []
        names = [shard_name(shard) for shard in shards]
        return partition_index.publish(self.dedup_index, self.params, base, token, self.work, names)


def dedup_phase(params: StageParams, work: str | Path, partitions: int, dedup_index: Path | str | None) -> DedupPhase:
    """The ``dedup`` stage with ``params`` as a partitioned phase over the work area ``work``."""
    return DedupPhase(DedupParams.model_validate(params.model_dump()), WorkArea(work), partitions, dedup_index)
