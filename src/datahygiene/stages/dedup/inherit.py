"""Rights inheritance: a duplicate cluster never launders rights or provenance.

The kept representative of a cluster carries the union of its cluster's signals (``copyright_signals``,
``synthetic_signals`` ...): every signal a duplicate has and the representative lacks is appended to the
representative's list, after its own, and each evidence entry of that signal is copied with the duplicate
named (``duplicate <id>: <source>`` in struct evidence, ``<signal>: from duplicate <id>: ...`` in text
evidence). A signal two duplicates share names the first of them (input order). Nothing is removed.

This works on one shard at a time (the rows the stage saw before deciding any of them): representatives
committed in an earlier shard or run are never rewritten, so they do not inherit from later duplicates; the
datasheet counts such duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

#: ``evidence`` suffix that goes with a ``signals`` column (``copyright_signals`` -> ``copyright_evidence``).
SIGNALS_SUFFIX, EVIDENCE_SUFFIX = "_signals", "_evidence"


@dataclass(frozen=True)
class InheritedColumn:
    """A ``list<string>`` signal column and its evidence column, if it has one."""

    signals: str
    evidence: str | None

    @classmethod
    def named(cls, signals: str) -> InheritedColumn:
        """``copyright_signals`` with ``copyright_evidence``."""
        stem = signals.removesuffix(SIGNALS_SUFFIX)
        return cls(signals, stem + EVIDENCE_SUFFIX if signals.endswith(SIGNALS_SUFFIX) else None)

    @property
    def names(self) -> tuple[str, ...]:
        """The columns read and amended."""
        return (self.signals,) if self.evidence is None else (self.signals, self.evidence)


#: column -> {shard row: new value} for the representatives whose values change.
Amendments = dict[str, dict[int, list[Any]]]


def _evidence_signal(entry: Any) -> str | None:
    if isinstance(entry, dict):
        signal = entry.get("signal")
        return signal if isinstance(signal, str) else None
    if isinstance(entry, str):
        return entry.partition(": ")[0]
    return None


def _named(entry: Any, duplicate: str) -> Any:
    """An evidence entry copied from ``duplicate``, saying so."""
    if isinstance(entry, dict):
        source = entry.get("source")
        return {**entry, "source": f"duplicate {duplicate}: {source}" if source else f"duplicate {duplicate}"}
    signal, _, rest = str(entry).partition(": ")
    return f"{signal}: from duplicate {duplicate}: {rest}"


def _lengths(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    return np.asarray(pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def inherit(
    ids: Sequence[str],
    rep_row: npt.NDArray[np.int64],
    values: Mapping[str, pa.Array | pa.ChunkedArray],
    columns: Sequence[InheritedColumn],
) -> Amendments:
    """New values of the inherited columns for every representative whose duplicates carry signals it lacks.

    ``rep_row[i]`` is the shard row of row ``i``'s representative (-1: not a duplicate, or its representative
    is not in this shard); ``values`` holds the shard's columns by name (absent columns are skipped).
    """
    amended: Amendments = {}
    duplicates = np.flatnonzero(rep_row >= 0)
    for spec in columns:
        signals = values.get(spec.signals)
        if signals is None or not len(duplicates):
            continue
        carriers = duplicates[_lengths(signals)[duplicates] > 0]
        if not len(carriers):
            continue
        rows = np.union1d(carriers, rep_row[carriers])
        index = {int(row): position for position, row in enumerate(rows.tolist())}
        taken = pa.array(rows)
        own: list[list[str]] = [list(v or []) for v in signals.take(taken).to_pylist()]
        evidence_column = values.get(spec.evidence) if spec.evidence else None
        evidence: list[list[Any]] | None = None
        if evidence_column is not None:
            evidence = [list(v or []) for v in evidence_column.take(taken).to_pylist()]
        changed: set[int] = set()  # positions of representatives (a duplicate's own lists never change)
        for duplicate in carriers.tolist():
            rep, dup = index[int(rep_row[duplicate])], index[duplicate]
            new = [signal for signal in dict.fromkeys(own[dup]) if signal not in own[rep]]
            if not new:
                continue
            own[rep].extend(new)
            changed.add(rep)
            if evidence is not None:
                copied = [_named(e, ids[duplicate]) for e in evidence[dup] if _evidence_signal(e) in new]
                evidence[rep].extend(copied)
        for position in sorted(changed):
            row = int(rows[position])
            amended.setdefault(spec.signals, {})[row] = own[position]
            if evidence is not None and spec.evidence is not None:
                amended.setdefault(spec.evidence, {})[row] = evidence[position]
    return amended
