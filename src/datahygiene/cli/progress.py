"""The ``run`` command's progress bar: rows and bytes against totals known up front, a rate and an ETA.

Totals come from what the inputs say before any row is read: Parquet footers and image folders give rows,
file sizes give bytes. The bar moves per batch read and, while a batch is scored, per chunk a stage reports
(:mod:`datahygiene.core.progress`), so a single large batch does not sit at zero until it is done.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from datahygiene.cli.common import console
from datahygiene.io.sources import ShardSource


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"  # pragma: no cover - the loop returns at GB


class RunProgress:
    """How far a run is: shards weighted by their bytes, each advanced by rows (when known) or bytes read."""

    def __init__(self) -> None:
        self.shards: list[ShardSource] = []
        self.sizes: dict[int, int] = {}
        self.rows_known: dict[int, int | None] = {}
        self.finished: set[int] = set()
        self.current: int | None = None  # the shard being read (and scored)
        self.rows_in: dict[int, int] = {}  # rows decided per shard not yet committed
        #: Per shard not yet committed, the largest fraction shown: scoring runs ahead of the commit (the next
        #: batch, the next shard), so a fraction computed later may be smaller; the bar never goes back.
        self.fractions: dict[int, float] = {}
        self.high_scored = 0
        self.batch_rows = 0
        self.batch_fraction = 0.0
        self.position = (0, 0)  # bytes read before and after the current batch
        self.rows_scored = 0
        self.started = time.monotonic()

    def start(self, shards: list[ShardSource]) -> None:
        """The shards to commit now (their totals are read here: file sizes and footers, no rows)."""
        self.shards = shards
        self.sizes = {shard.index: shard.size() for shard in shards}
        self.rows_known = {shard.index: shard.known_rows() for shard in shards}
        self.started = time.monotonic()

    @property
    def bytes_total(self) -> int:
        """Bytes of every input file still to commit."""
        return sum(self.sizes.values())

    @property
    def rows_total(self) -> int | None:
        """Rows to commit, when every shard says up front; else None."""
        known = list(self.rows_known.values())
        return None if any(count is None for count in known) else sum(count or 0 for count in known)

    def _weight(self, index: int) -> float:
        return float(self.sizes.get(index, 0)) if self.bytes_total else 1.0

    @property
    def total(self) -> float:
        """The whole run in progress units (bytes, or shards when no file has a size)."""
        return sum(self._weight(shard.index) for shard in self.shards) or 1.0

    def _shard_fraction(self, index: int) -> float:
        reading = index == self.current
        scored = self.rows_in.get(index, 0) + (self.batch_rows * self.batch_fraction if reading else 0)
        rows = self.rows_known.get(index)
        fraction = 0.0
        if rows:
            fraction = min(1.0, scored / rows)
        elif reading and self.sizes.get(index, 0) and self.position[1]:
            before, after = self.position
            fraction = min(1.0, (before + (after - before) * self.batch_fraction) / self.sizes[index])
        fraction = max(fraction, self.fractions.get(index, 0.0))
        self.fractions[index] = fraction
        return fraction

    @property
    def completed(self) -> float:
        """Progress units done, the current shard's part included."""
        done = sum(self._weight(index) for index in self.finished)
        started = {*self.rows_in, *self.fractions, *([] if self.current is None else [self.current])}
        for index in started - self.finished:
            done += self._weight(index) * self._shard_fraction(index)
        return done

    @property
    def scored(self) -> int:
        """Rows scored so far, the current batch's scored part included."""
        self.high_scored = max(self.high_scored, self.rows_scored + int(self.batch_rows * self.batch_fraction))
        return self.high_scored

    @property
    def rate(self) -> float:
        """Rows scored per second since the run started."""
        return self.scored / max(time.monotonic() - self.started, 1e-9)

    def read(self, shard: ShardSource, rows: int, bytes_read: int | None) -> None:
        """A batch of ``shard`` was read: it is now being scored."""
        if shard.index != self.current:
            self.current, self.position = shard.index, (0, 0)
        self.position = (self.position[1], bytes_read if bytes_read is not None else self.position[1])
        self.batch_rows, self.batch_fraction = rows, 0.0

    def scoring(self, done: int, total: int) -> None:
        """A stage scored ``done`` of ``total`` rows of the current batch (the slowest stage sets the pace)."""
        if total:
            self.batch_fraction = max(self.batch_fraction, min(done / total, 1.0))

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        """A batch of ``rows`` is scored and decided."""
        self.rows_in[shard.index] = self.rows_in.get(shard.index, 0) + rows
        self.rows_scored += rows
        if shard.index == self.current:
            self.batch_rows, self.batch_fraction = 0, 0.0

    def shard_done(self, shard: ShardSource) -> None:
        """``shard`` was committed (or failed): all of its weight is done."""
        self.finished.add(shard.index)
        self.rows_in.pop(shard.index, None)
        self.fractions.pop(shard.index, None)

    def rows_text(self) -> str:
        """``1,234/3,000 rows`` (``1,234 rows`` when the total is not known up front)."""
        total = self.rows_total
        return f"{self.scored:,}/{total:,} rows" if total is not None else f"{self.scored:,} rows"

    def bytes_text(self) -> str:
        """``1.2/3.4 MB`` of the input files (empty when no input is a file)."""
        if not self.bytes_total:
            return ""
        return f"{_size(self.completed / self.total * self.bytes_total)}/{_size(self.bytes_total)}"


class RichProgress:
    """The progress listener of ``datahygiene run``: one bar over the run, described by the current shard."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.model = RunProgress()
        self.task = progress.add_task("loading models", total=None, rows="", size="", rate="")
        self.done_shards = 0
        self.total_shards = 0

    @staticmethod
    def bar(out: Console | None = None) -> Progress:
        """The columns: description, bar, rows, bytes, rate, elapsed, remaining (drawn on ``out``)."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]}"),
            TextColumn("{task.fields[size]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=out or console(),
            transient=True,
        )

    def _refresh(self, description: str | None = None) -> None:
        model = self.model
        rate = f"{model.rate:,.0f} rows/s" if model.scored else ""
        self.progress.update(
            self.task,
            total=model.total,
            completed=model.completed,
            description=description,
            rows=model.rows_text(),
            size=model.bytes_text(),
            rate=rate,
        )

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        self.total_shards = len(shards) + skipped
        self.done_shards = skipped
        if skipped:
            console().print(f"resuming: {skipped} of {self.total_shards} shards already committed")
        self.model.start(shards)
        self._refresh(f"shard {self.done_shards + 1}/{self.total_shards}")

    def batch_read(self, shard: ShardSource, rows: int, bytes_read: int | None) -> None:
        self.model.read(shard, rows, bytes_read)
        self._refresh(f"shard {self.done_shards + 1}/{self.total_shards}")

    def batch_scoring(self, done: int, total: int) -> None:
        self.model.scoring(done, total)
        self._refresh()

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        self.model.rows_done(shard, rows)
        self._refresh()

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None:
        self.done_shards += 1
        self.model.shard_done(shard)
        self._refresh()
        if "error" in record:
            console().print(f"[red]shard failed[/] {shard.shard_id}: {record['error']}", highlight=False)
