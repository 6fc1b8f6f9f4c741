"""The ``dedup`` stage: marks each row that duplicates an earlier kept row, in this run or an earlier one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, ColumnRole, StageBase, StageContext, StageParams
from datahygiene.stages.dedup.features import Features
from datahygiene.stages.dedup.index_store import IndexFolder
from datahygiene.stages.dedup.inherit import InheritedColumn
from datahygiene.stages.dedup.lookahead import ShardDecisions, ShardLook
from datahygiene.stages.dedup.matcher import Resolution, resolve
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.state import (
    DedupState,
    link_or_copy,
    read_checkpoint_fingerprint,
    read_manifest,
    write_manifest,
)

OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("dup_of", pa.string()),
        pa.field("dup_kind", pa.string()),
        pa.field("dup_similarity", pa.float32()),
    ]
)
_STATE_FILE = "dedup-state.json"


@register("dedup")
class DedupStage(StageBase[DedupParams]):
    """Exact, near (MinHash text, pHash image) and semantic dedup; the ``keep`` rule picks the kept copy."""

    Params: ClassVar[type[StageParams]] = DedupParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.fingerprint = self.params.fingerprint()
        self._index = None if context.dedup_index is None else IndexFolder(context.dedup_index)
        #: Names this run's segment in the cross-run index, so a resumed run knows what it already published.
        self._run_token = uuid.uuid4().hex
        self._base_segments = self._index_segments()
        self.state = self._fresh_state()
        self._run_start = self.state.marks()
        self._checkpoint_segments: list[Path] = []
        self._checkpoint_marks = self.state.marks()
        self._inherited = [InheritedColumn.named(name) for name in self.params.inherit]
        self._look: ShardLook | None = None
        self._decisions: ShardDecisions | None = None

    # -- protocol ------------------------------------------------------------------------------------
    def output_schema(self) -> pa.Schema:
        """``dup_of`` (representative id), ``dup_kind`` (exact|near|semantic), ``dup_similarity``."""
        return OUTPUT_SCHEMA

    column_roles: ClassVar[Mapping[str, ColumnRole]] = {
        "dup_kind": ColumnRole.DUPLICATE_KIND,
        "dup_of": ColumnRole.DUPLICATE_OF,
    }
    #: ``module:function`` that builds this stage as a partitioned phase (the flow's parallel commit).
    phase: ClassVar[str] = "datahygiene.stages.dedup.phase:dedup_phase"

    @classmethod
    def full_images(cls, params: StageParams) -> bool:
        """Exact pixel keys read every pixel, and pHash reads the decoded picture unless ``from_bytes``."""
        assert isinstance(params, DedupParams)
        image = params.near_image
        return params.exact.image_pixels or (image.enabled and not image.from_bytes)

    def describe(self) -> dict[str, Any]:
        """Settings, libraries and the cross-run index this run matched against."""
        return describe(self.params, self.context.dedup_index, self._run_start["ids"])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Each row's match (``dup_of``, ``dup_kind``, ``dup_similarity``), and inherited signals of kept rows.

        After :meth:`look` saw the whole shard, answers come from that shard's decisions; a batch the stage
        did not look at first is decided on its own (as a shard of one batch).
        """
        ids = _ids(batch)
        if self._decisions is None:
            if self._look is None or self._look.rows == 0:
                self.look(batch)
            self.decide()
        assert self._decisions is not None
        matches, amended = self._decisions.next_batch(ids)
        if self._decisions.done:
            self._decisions = None
        out = {
            "dup_of": pa.array([m[0] if m else None for m in matches], type=pa.string()),
            "dup_kind": pa.array([m[1] if m else None for m in matches], type=pa.string()),
            "dup_similarity": pa.array([m[2] if m else None for m in matches], type=pa.float32()),
        }
        return out | batch.amended(amended)

    # -- a shard at a time ---------------------------------------------------------------------------
    def upstream_columns(self, columns: frozenset[str]) -> None:
        """Inherit only the signal columns some earlier stage of the run produces (the others stay absent)."""
        self._inherited = [spec for spec in self._inherited if spec.signals in columns]

    def looks_ahead(self) -> bool:
        """Whether the engine must show this stage every batch of a shard before it decides any row.

        ``keep: first`` with no signal to inherit decides as the rows stream by (no spool, no second read).
        """
        return self.params.keep != "first" or bool(self._inherited)

    def amends(self) -> tuple[str, ...]:
        """Columns of earlier stages this stage extends (signals inherited from duplicates; never removes)."""
        return tuple(name for spec in self._inherited for name in spec.names)

    def look(self, batch: Batch) -> None:
        """Gather one batch of the shard being committed (in input order), before any ``process``."""
        if self._look is None:
            self._look = ShardLook(self.params, self._inherited, self._resolve)
        self._look.add(batch, _ids(batch))

    def decide(self) -> None:
        """Decide every row :meth:`look` gathered; ``process`` then hands the answers out in input order."""
        look, self._look = self._look, None
        self._decisions = look.decide() if look is not None else None

    def _resolve(self, feats: Features, ids: list[str]) -> Resolution:
        return resolve(self.state, self.params, feats, ids)

    # -- state ---------------------------------------------------------------------------------------
    def _index_segments(self) -> list[Path]:
        """The segments the cross-run index lists now (none without ``--dedup-index``)."""
        if self._index is None:
            return []
        self._index.pull()
        if not (self._index.path / "manifest.json").exists():
            return []
        return read_manifest(self._index.path, self.fingerprint)

    def _fresh_state(self) -> DedupState:
        """The cross-run index as it was when this run started, and nothing of this run."""
        state = DedupState(self.params.near_text.num_perm, self.fingerprint)
        for segment in self._base_segments:
            state.read_segment(segment)
        return state

    def _checkpoint_fingerprint(self) -> dict[str, Any]:
        return {**self.fingerprint, "base": [p.name for p in self._base_segments], "run": self._run_token}

    def save_state(self, directory: Path) -> None:
        """Checkpoint: hard-link earlier segments and write one new segment with this shard's representatives."""
        directory.mkdir(parents=True, exist_ok=True)
        names: list[str] = []
        for old in self._checkpoint_segments:
            link_or_copy(old, directory / old.name)
            names.append(old.name)
        new = directory / f"dedup-seg-{len(names):06d}.npz"
        self.state.write_segment(new, self._checkpoint_marks)
        names.append(new.name)
        write_manifest(directory, self._checkpoint_fingerprint(), names)
        (directory / _STATE_FILE).write_text("ok\n")
        self._checkpoint_segments = [directory / n for n in names]
        self._checkpoint_marks = self.state.marks()

    def state_moved(self, directory: Path) -> None:
        """The runner committed the last snapshot: point at its segments in their final folder."""
        self._checkpoint_segments = [directory / segment.name for segment in self._checkpoint_segments]

    def load_state(self, directory: Path) -> None:
        """Restore the state saved by ``save_state`` (``--resume``, or rollback after a failed shard).

        A directory without a saved state (the runner's empty one) means: nothing from this run yet.
        A saved state brings back the run's token and the index segments it started from, so a run that
        published to the cross-run index and died before its manifest was written resumes without
        counting its own segment twice.
        """
        self._look, self._decisions = None, None  # a rolled-back shard is looked at again
        has_state = (directory / "manifest.json").exists()
        if has_state:
            saved = read_checkpoint_fingerprint(directory)
            self._run_token = str(saved.get("run", self._run_token))
            self._base_segments = self._segments_at_start([str(name) for name in saved.get("base", [])])
        self.state = self._fresh_state()
        self._run_start = self.state.marks()
        self._checkpoint_segments = read_manifest(directory, self._checkpoint_fingerprint()) if has_state else []
        for segment in self._checkpoint_segments:
            self.state.read_segment(segment)
        self._checkpoint_marks = self.state.marks()

    def _segments_at_start(self, base: list[str]) -> list[Path]:
        """The index segments named ``base`` (as the run saw them at its start), checked against the index now."""
        current = self._index_segments()
        if [p.name for p in current[: len(base)]] != base:
            raise RuntimeError(f"dedup index {self.context.dedup_index} changed since this run started")
        return current[: len(base)]

    def commit_run(self) -> None:
        """Publish this run's representatives to the cross-run index (new segment + atomic manifest swap)."""
        if self._index is None:
            return
        index_dir = self._index.path
        index_dir.mkdir(parents=True, exist_ok=True)
        names = [p.name for p in self._base_segments]
        current = [p.name for p in self._index_segments()]
        if current != names:
            if current[: len(names)] == names and all(self._run_token in name for name in current[len(names) :]):
                return  # published before a crash; the resumed run has nothing new to add
            raise RuntimeError(f"dedup index {self._index.location} changed during this run; not overwriting it")
        new: list[str] = []
        if self.state.marks()["ids"] > self._run_start["ids"]:
            segment = index_dir / f"seg-{len(names):06d}-{self._run_token}.npz"
            self.state.write_segment(segment, self._run_start)
            names.append(segment.name)
            new.append(segment.name)
        write_manifest(index_dir, self.fingerprint, names)
        self._index.push(new)
        self._base_segments = [index_dir / n for n in names]
        self._run_start = self.state.marks()


def describe(params: DedupParams, dedup_index: Path | str | None, earlier: int) -> dict[str, Any]:
    """What the stage records in the manifest and the files' metadata (``earlier``: the index's representatives)."""
    return {
        "params": params.model_dump(),
        "fingerprint": params.fingerprint(),
        "minhash": "rensa RMinHash",
        "semantic_index": "faiss IndexFlatIP",
        "dedup_index": None if dedup_index is None else str(dedup_index),
        "representatives_from_earlier_runs": earlier,
    }


def _ids(batch: Batch) -> list[str]:
    """The batch's ids as the stage records them (strings; empty where the batch has no id column)."""
    column = batch.column("id")
    return [str(v) for v in column.to_pylist()] if column is not None else [""] * batch.num_rows
