"""Scoring ahead on a thread: order kept, errors raised in the consumer, no thread left behind, bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datahygiene.core.config import RunConfig
from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageContext, StageParams
from datahygiene.engine.prefetch import Prefetch
from datahygiene.engine.run import run
from datahygiene.io.sink import RunDir


class _FailParams(StageParams):
    text: str
    seconds: float = 0.0


@register("test.fail_on_text")
class FailOnText(StageBase[_FailParams]):
    """Order-free: sleeps a little per batch (longer on odd batches), raises on a batch holding ``text``."""

    Params: ClassVar[type[StageParams]] = _FailParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.batches = 0

    def output_schema(self) -> pa.Schema:
        return pa.schema([])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        self.batches += 1
        time.sleep(self.params.seconds * (self.batches % 2))
        if self.params.text in batch.texts():
            raise RuntimeError(f"test.fail_on_text saw {self.params.text!r}")
        return {}


def _threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


def test_order_is_kept_when_the_producer_is_slower_at_random() -> None:
    def slow() -> Iterator[int]:
        for item in range(40):
            time.sleep(0.003 * (item % 3))
            yield item

    with Prefetch(slow(), depth=2, name="t-order") as ahead:
        got = []
        for item in ahead:
            got.append(item)
            time.sleep(0.002 * (item % 2))  # the consumer is sometimes the slower one
    assert got == list(range(40))
    assert not _threads("t-order")


def test_a_producer_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad row 3")

    ahead = Prefetch(failing(), name="t-error")
    got = [next(ahead), next(ahead)]
    with pytest.raises(ValueError, match="bad row 3"):
        next(ahead)
    assert got == [1, 2]
    assert not _threads("t-error")
    with pytest.raises(StopIteration):  # finished: no hang on a second call
        next(ahead)


def test_stopping_early_stops_the_producer_and_runs_its_cleanup() -> None:
    made: list[int] = []
    cleaned = threading.Event()

    def endless() -> Iterator[int]:
        try:
            item = 0
            while True:
                made.append(item)
                yield item
                item += 1
        finally:
            cleaned.set()

    with Prefetch(endless(), depth=1, name="t-stop") as ahead:
        assert next(ahead) == 0
        time.sleep(0.05)  # the producer fills the queue and then waits
        assert len(made) <= 3  # one handed over, one queued, one waiting to be queued: memory is bounded
    assert not _threads("t-stop")
    assert cleaned.is_set()


def test_keyboard_interrupt_in_the_consumer_leaves_no_thread() -> None:
    def items() -> Iterator[int]:
        yield from range(1000)

    def consume() -> None:
        with Prefetch(items(), name="t-interrupt") as ahead:
            for item in ahead:
                if item == 5:
                    raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        consume()
    assert not _threads("t-interrupt")


def _config(stages: list[dict[str, object]]) -> RunConfig:
    return RunConfig.model_validate({"batch_size": 2, "stages": stages, "policy": {"rules": []}})


def test_a_scoring_error_in_the_run_gives_the_shards_error_record_and_no_thread(tmp_path: Path) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text("".join(f'{{"id": "a{i}", "text": "row {i}"}}\n' for i in range(5)))
    bad = tmp_path / "b.jsonl"
    bad.write_text("".join(f'{{"id": "b{i}", "text": "{text}"}}\n' for i, text in enumerate(["x", "y", "z", "boom"])))
    config = _config([{"name": "test.fail_on_text", "params": {"text": "boom"}}, {"name": "dedup"}])
    result = run(config, [str(good), str(bad)], tmp_path / "out")
    assert result.exit_code == 1
    errors = [entry for entry in result.manifest["shards"] if "error" in entry]
    assert [Path(entry["shard"]).name for entry in errors] == ["b.jsonl"]
    assert errors[0]["error"] == "RuntimeError: test.fail_on_text saw 'boom'"
    assert [Path(e["shard"]).name for e in RunDir(tmp_path / "out").committed().values()] == ["a.jsonl"]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("score-")]


def test_rows_keep_their_order_and_duplicates_their_first_copy_with_a_slow_scoring_stage(tmp_path: Path) -> None:
    texts = [f"document number {i % 7} about the same topic" for i in range(23)]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(f'{{"id": "r{i:02d}", "text": "{text}"}}\n' for i, text in enumerate(texts)))
    slow: dict[str, object] = {"name": "test.fail_on_text", "params": {"text": "never", "seconds": 0.01}}
    stages: list[dict[str, object]] = [slow, {"name": "dedup"}]
    result = run(_config(stages), [str(corpus)], tmp_path / "out")
    assert result.exit_code == 0
    kept = pq.read_table(next((tmp_path / "out" / "kept").glob("*")))  # no rule: every row is kept
    assert kept.column("id").to_pylist() == [f"r{i:02d}" for i in range(23)]  # written in input order
    assert kept.column("dup_of").to_pylist() == [None if i < 7 else f"r{i % 7:02d}" for i in range(23)]


def test_many_shards_commit_in_order_with_a_failed_one_between(tmp_path: Path) -> None:
    inputs = []
    for name in "abcde":
        path = tmp_path / f"{name}.jsonl"
        texts = ["boom" if name == "c" and i == 3 else f"{name} text {i}" for i in range(5)]
        path.write_text("".join(f'{{"id": "{name}{i}", "text": "{text}"}}\n' for i, text in enumerate(texts)))
        inputs.append(str(path))
    slow: dict[str, object] = {"name": "test.fail_on_text", "params": {"text": "boom", "seconds": 0.01}}
    result = run(_config([slow, {"name": "dedup"}]), inputs, tmp_path / "out")
    assert result.exit_code == 1
    assert [Path(shard).name for shard in result.failed_shards] == ["c.jsonl"]
    committed = RunDir(tmp_path / "out").committed()
    assert [Path(committed[index]["shard"]).name for index in sorted(committed)] == [
        "a.jsonl",
        "b.jsonl",
        "d.jsonl",
        "e.jsonl",
    ]
    for index, record in committed.items():
        steps = {step["stage"]: step for step in record["stages"]}
        assert steps["read"]["rows"] == record["rows_read"] == 5
        kept = pq.read_table(tmp_path / "out" / record["files"]["kept"][0]["path"]).column("id").to_pylist()
        assert kept == [f"{Path(record['shard']).stem}{i}" for i in range(5)], index
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("score-")]
