"""A whole shard's dedup decisions, made before any of its rows is written.

``ShardLook`` gathers what the matcher needs of every batch of a shard (features, ids, ``keep`` priorities,
the signal columns to inherit); :meth:`ShardLook.decide` visits the rows in ``keep`` order
(:func:`~datahygiene.stages.dedup.keep.visit_order`), resolves them against the state in chunks, and works
out rights inheritance (:func:`~datahygiene.stages.dedup.inherit.inherit`). ``ShardDecisions`` then hands the
answers out batch by batch, in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.core.stage import Batch, rows_between
from datahygiene.stages.dedup.features import Features, compute, compute_ahead
from datahygiene.stages.dedup.inherit import Amendments, InheritedColumn, inherit
from datahygiene.stages.dedup.keep import priority, visit_order
from datahygiene.stages.dedup.params import DedupParams

#: Rows resolved per matcher call: bounds the matcher's per-call structures (Python dicts of band keys),
#: which made 32k-row batches slower and larger in memory; decisions do not depend on it.
CHUNK_ROWS = 8192
#: Rows per slice with ``keep: first``: features of the next slice are computed while one is resolved.
AHEAD_ROWS = 2048
Match = tuple[str, str, float]  # (dup_of id, kind, similarity), as the stage writes it


class Resolved(Protocol):
    """The matcher's answer for a chunk (``dedup_stage.Resolution``)."""

    @property
    def matches(self) -> list[Match | None]: ...

    @property
    def reps(self) -> list[int]: ...

    @property
    def rep_of_row(self) -> dict[int, int]: ...


def concat_features(parts: list[Features]) -> Features:
    """One ``Features`` for consecutive batches (a field missing in some batch is zeros there: not usable)."""
    if len(parts) == 1:
        return parts[0]
    out = Features(rows=sum(part.rows for part in parts))
    for spec in fields(Features):
        if spec.name == "rows":
            continue
        values = [getattr(part, spec.name) for part in parts]
        example = next((value for value in values if value is not None), None)
        if example is None:
            setattr(out, spec.name, None)
            continue
        filled = [
            value if value is not None else np.zeros((part.rows, *example.shape[1:]), dtype=example.dtype)
            for value, part in zip(values, parts, strict=True)
        ]
        setattr(out, spec.name, np.concatenate(filled))
    return out


def take_features(feats: Features, rows: npt.NDArray[np.int64]) -> Features:
    """The features of ``rows`` (in that order)."""
    out = Features(rows=len(rows))
    for spec in fields(Features):
        if spec.name != "rows":
            value = getattr(feats, spec.name)
            setattr(out, spec.name, None if value is None else value[rows])
    return out


@dataclass
class ShardDecisions:
    """A shard's decisions in input order, handed out batch by batch."""

    ids: list[str]
    matches: list[Match | None]
    amendments: Amendments
    cursor: int = 0

    @property
    def done(self) -> bool:
        """Every row was handed out."""
        return self.cursor >= len(self.ids)

    def next_batch(self, ids: list[str]) -> tuple[list[Match | None], dict[str, dict[int, list[Any]]]]:
        """Matches of the next ``len(ids)`` rows and their amendments (batch row -> value), checked by id."""
        start, stop = self.cursor, self.cursor + len(ids)
        if self.ids[start:stop] != ids:
            raise RuntimeError("dedup: the batches to decide are not the ones it looked at (order or ids differ)")
        self.cursor = stop
        return self.matches[start:stop], rows_between(self.amendments, start, stop)


class ShardLook:
    """What the stage gathers from a shard's batches before deciding any row.

    With ``keep: first`` the visit order is the input order, so each batch is resolved as it arrives (as
    the streaming stage always did) and only its answers and signal columns are held. Any other rule needs
    every priority before the first visit: the batches' features are held until :meth:`decide` (text with
    the default MinHash: ~0.7 KB a row; images: ~50 B; embeddings: 4 B per dimension).
    """

    def __init__(
        self, params: DedupParams, columns: list[InheritedColumn], resolve: Callable[[Features, list[str]], Resolved]
    ) -> None:
        self.params = params
        self.columns = columns
        self.resolve = resolve
        self.features: list[Features] = []
        self.ids: list[str] = []
        self.priorities: list[npt.NDArray[np.float64]] = []
        self.values: dict[str, list[pa.Array]] = {}
        self.matches: list[Match | None] = []
        self.rep_index: list[int] = []
        self.row_of_rep: dict[int, int] = {}

    @property
    def rows(self) -> int:
        """Rows gathered so far."""
        return len(self.ids)

    def add(self, batch: Batch, ids: list[str]) -> None:
        """Gather one batch (in input order)."""
        for spec in self.columns:
            for name in spec.names:
                column = batch.column(name)
                if column is not None:
                    self.values.setdefault(name, []).append(column)
        if self.params.keep == "first":
            # the next slice's features are computed while this one is resolved (see ``compute_ahead``)
            for start, stop, part in compute_ahead(batch, self.params, AHEAD_ROWS):
                rows = np.arange(self.rows + start, self.rows + stop, dtype=np.int64)
                self._resolve(part, rows, ids[start:stop])
        else:
            feats = compute(batch, self.params)
            self.features.append(feats)
            self.priorities.append(priority(batch.records, batch.images, self.params.keep, self.params.keep_score))
        self.ids.extend(ids)

    def _resolve(self, feats: Features, rows: npt.NDArray[np.int64], ids: list[str]) -> None:
        """Resolve shard ``rows`` (in visit order) and record their answers."""
        result = self.resolve(feats, ids)
        end = int(rows.max()) + 1 if len(rows) else 0
        if end > len(self.matches):
            self.matches.extend([None] * (end - len(self.matches)))
            self.rep_index.extend([-1] * (end - len(self.rep_index)))
        positions = rows.tolist()
        for local, match in enumerate(result.matches):
            if match is not None:
                self.matches[positions[local]] = match
                self.rep_index[positions[local]] = result.reps[local]
        self.row_of_rep.update({index: positions[local] for local, index in result.rep_of_row.items()})

    def decide(self) -> ShardDecisions:
        """Resolve the held rows in ``keep`` order (nothing is held with ``keep: first``); work out inheritance."""
        if self.features:
            feats = concat_features(self.features)
            order = visit_order(np.concatenate(self.priorities))
            for start in range(0, len(order), CHUNK_ROWS):
                rows = order[start : start + CHUNK_ROWS]
                self._resolve(take_features(feats, rows), rows, [self.ids[r] for r in rows.tolist()])
            self.features, self.priorities = [], []
        n = self.rows
        self.matches.extend([None] * (n - len(self.matches)))
        self.rep_index.extend([-1] * (n - len(self.rep_index)))
        rep_row = np.array([self.row_of_rep.get(r, -1) for r in self.rep_index], dtype=np.int64)
        values = {name: pa.chunked_array(parts) for name, parts in self.values.items() if parts}
        amendments = inherit(self.ids, rep_row, values, self.columns) if self.columns else {}
        return ShardDecisions(list(self.ids), list(self.matches), amendments)
