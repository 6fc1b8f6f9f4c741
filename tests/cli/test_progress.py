"""The run's progress bar knows its totals up front and moves while a single large batch is scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from datahygiene.cli.progress import RichProgress, RunProgress
from datahygiene.core.config import parse_config
from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageParams
from datahygiene.engine.run import run
from datahygiene.io.sources import ShardSource
from datahygiene.stages.toxicity.textbatch import length_sorted_chunks


class ChunkedParams(StageParams):
    """Rows per chunk."""

    chunk: int = 100


@register("testing.chunked")
class Chunked(StageBase[ChunkedParams]):
    """Scores text in chunks, as the transformer scorers do (through the same chunking helper)."""

    Params: ClassVar[type[StageParams]] = ChunkedParams

    def output_schema(self) -> pa.Schema:
        return pa.schema([pa.field("length", pa.int64())])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        texts = [t or "" for t in batch.texts()]
        lengths = [0] * len(texts)
        for chunk in length_sorted_chunks(texts, self.params.chunk):
            for row in chunk.tolist():
                lengths[row] = len(texts[row])
        return {"length": pa.array(lengths, pa.int64())}


class Recorder(RunProgress):
    """The bar's arithmetic as a listener, with every state it went through."""

    def __init__(self) -> None:
        super().__init__()
        self.states: list[tuple[str, float, float, str]] = []

    def note(self, event: str) -> None:
        self.states.append((event, self.completed, self.total, self.rows_text()))

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        self.start(shards)
        self.note("start")

    def batch_read(self, shard: ShardSource, rows: int, bytes_read: int | None) -> None:
        self.read(shard, rows, bytes_read)
        self.note("read")

    def batch_scoring(self, done: int, total: int) -> None:
        self.scoring(done, total)
        self.note("scoring")

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        super().rows_done(shard, rows)
        self.note("done")

    def shard_done(self, shard: ShardSource, record: dict[str, Any] | None = None) -> None:
        super().shard_done(shard)
        self.note("shard")


def _config() -> Any:
    return parse_config({"batch_size": 32768, "stages": [{"name": "testing.chunked"}], "policy": {"rules": []}})


def test_a_single_batch_csv_moves_while_it_is_scored(tmp_path: Path) -> None:
    """3,000 rows of CSV in one batch (the case that sat at "0/?" for minutes): bytes known, the bar moves."""
    source = tmp_path / "tweets.csv"
    source.write_text("id,text\n" + "".join(f"t{i},tweet number {i} " + "word " * (i % 17) + "\n" for i in range(3000)))
    recorder = Recorder()
    assert run(_config(), [str(source)], tmp_path / "out", listener=recorder).exit_code == 0
    start = recorder.states[0]
    assert start[2] == source.stat().st_size  # total known before any row is read: the file's size
    assert start[1] == 0
    scoring = [state for state in recorder.states if state[0] == "scoring"]
    assert len(scoring) == 30  # one report per chunk of 100 rows, inside the one batch
    fractions = [state[1] / state[2] for state in scoring]
    assert fractions == sorted(fractions)
    assert 0 < fractions[0] < 0.1  # moved during the batch, not only at its end
    assert fractions[-1] == 1.0
    assert recorder.states[-1][1] == recorder.states[-1][2]
    assert recorder.states[-1][3] == "3,000 rows"  # CSV: no row total up front, bytes only


def test_parquet_footers_give_the_row_total(tmp_path: Path) -> None:
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"part-{k}.parquet")
        pq.write_table(pa.table({"text": [f"row {k}-{i}" for i in range(100 * (k + 1))]}), paths[-1])
    recorder = Recorder()
    run(_config(), [str(p) for p in paths], tmp_path / "out", listener=recorder)
    assert recorder.states[0][3] == "0/600 rows"
    assert recorder.states[-1][3] == "600/600 rows"
    done = [state[1] for state in recorder.states]
    assert done == sorted(done)


def test_the_bar_shows_rows_bytes_rate_and_eta(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), source)
    shard = ShardSource(0, "parquet", str(source), source, tmp_path, (source,))
    screen = Console(record=True, width=160, force_terminal=False)
    progress = RichProgress.bar(screen)
    listener = RichProgress(progress)

    def shown() -> str:
        screen.print(progress.get_renderable())
        return screen.export_text()

    assert "loading models" in shown()
    listener.run_started([shard], skipped=0)
    listener.batch_read(shard, 1000, None)
    assert "rows/s" not in shown()  # nothing scored yet: no rate
    listener.batch_scoring(250, 1000)
    listener.batch_scoring(500, 1000)
    text = shown()
    assert "shard 1/1" in text
    assert "500/1,000 rows" in text
    assert f"/{source.stat().st_size / 1000:,.1f} KB" in text
    assert "ETA" in text
    assert "rows/s" in text
    listener.rows_done(shard, 1000)
    text = shown()
    assert "1,000/1,000 rows" in text
    assert "rows/s" in text
