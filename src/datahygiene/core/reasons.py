"""Collect per-row reasons cheaply and turn them into one ``list<string>`` column."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa


class Reasons:
    """Reasons for the rows of one batch, kept in the order they were added.

    Reasons are stored as (row indices, reason) groups, so a rule that flags
    thousands of rows costs one numpy array, not thousands of Python lists.
    """

    def __init__(self, num_rows: int) -> None:
        self.num_rows = num_rows
        self._groups: list[tuple[npt.NDArray[np.int64], str]] = []
        self._single_rows: list[int] = []
        self._single_reasons: list[str] = []

    def add_mask(self, mask: npt.NDArray[np.bool_], reason: str) -> None:
        """Give ``reason`` to every row where ``mask`` is true."""
        rows = np.flatnonzero(mask).astype(np.int64)
        if len(rows):
            self._groups.append((rows, reason))

    def add_rows(self, rows: npt.NDArray[np.int64], reason: str) -> None:
        """Give ``reason`` to the listed rows."""
        if len(rows):
            self._groups.append((np.asarray(rows, dtype=np.int64), reason))

    def add_row(self, row: int, reason: str) -> None:
        """Give ``reason`` to one row."""
        self._single_rows.append(row)
        self._single_reasons.append(reason)

    def extend(self, other: Reasons, offset: int = 0) -> None:
        """Append the reasons of ``other`` with its rows shifted by ``offset``."""
        for rows, reason in other._groups:
            self._groups.append((rows + offset, reason))
        self._single_rows.extend(row + offset for row in other._single_rows)
        self._single_reasons.extend(other._single_reasons)

    def extend_slice(self, other: Reasons, start: int, stop: int) -> None:
        """Append the reasons ``other`` holds for rows ``start:stop``, renumbered from 0."""
        for rows, reason in other._groups:
            inside = rows[(rows >= start) & (rows < stop)]
            if len(inside):
                self._groups.append((inside - start, reason))
        for row, reason in zip(other._single_rows, other._single_reasons, strict=True):
            if start <= row < stop:
                self._single_rows.append(row - start)
                self._single_reasons.append(reason)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form that :meth:`from_dict` turns back into equal reasons (same output order)."""
        return {
            "num_rows": self.num_rows,
            "groups": [[reason, rows.tolist()] for rows, reason in self._groups],
            "single_rows": list(self._single_rows),
            "single_reasons": list(self._single_reasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reasons:
        """Rebuild reasons saved with :meth:`to_dict`."""
        reasons = cls(int(data["num_rows"]))
        for reason, rows in data["groups"]:
            reasons.add_rows(np.asarray(rows, dtype=np.int64), str(reason))
        reasons._single_rows = [int(row) for row in data["single_rows"]]
        reasons._single_reasons = [str(reason) for reason in data["single_reasons"]]
        return reasons

    def any(self) -> npt.NDArray[np.bool_]:
        """Which rows have at least one reason."""
        mask = np.zeros(self.num_rows, dtype=bool)
        for rows, _ in self._groups:
            mask[rows] = True
        if self._single_rows:
            mask[np.asarray(self._single_rows, dtype=np.int64)] = True
        return mask

    def to_arrow(self) -> pa.ListArray:
        """A ``list<string>`` column: each row's distinct reasons, in insertion order."""
        group_rows = [rows for rows, _ in self._groups]
        labels = [reason for _, reason in self._groups] + self._single_reasons
        sizes = [len(rows) for rows in group_rows]
        rows = np.concatenate([*group_rows, np.asarray(self._single_rows, dtype=np.int64)]) if labels else np.empty(0)
        codes = np.concatenate(
            [
                np.repeat(np.arange(len(self._groups), dtype=np.int64), sizes),
                np.arange(len(self._single_rows), dtype=np.int64) + len(self._groups),
            ]
        )
        vocabulary, label_codes = (
            np.unique(np.asarray(labels, dtype=object), return_inverse=True)
            if labels
            else (
                np.empty(0, dtype=object),
                np.empty(0, dtype=np.int64),
            )
        )
        value_codes = label_codes[codes] if len(codes) else codes
        rows = rows.astype(np.int64)
        # Sort by row, then insertion order; keep the first of any repeated reason in a row.
        order = np.lexsort((codes, rows)) if len(rows) else rows
        rows, value_codes = rows[order], value_codes[order]
        if len(rows):
            key = rows * (len(vocabulary) + 1) + value_codes
            first = np.sort(np.unique(key, return_index=True)[1])
            rows, value_codes = rows[first], value_codes[first]
        counts = np.bincount(rows, minlength=self.num_rows) if len(rows) else np.zeros(self.num_rows, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        values = pa.array(vocabulary.tolist(), pa.string()).take(pa.array(value_codes.astype(np.int64)))
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    def counts(self) -> dict[str, int]:
        """Reason -> number of rows carrying it."""
        column = self.to_arrow()
        flat = column.flatten()
        if len(flat) == 0:
            return {}
        table = pa.table({"reason": flat}).group_by("reason").aggregate([("reason", "count")])
        return dict(zip(table["reason"].to_pylist(), table["reason_count"].to_pylist(), strict=True))
