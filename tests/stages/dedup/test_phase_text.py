"""The dedup phase on text (spill -> buckets -> clusters -> resolve -> columns) decides like the stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch
from datahygiene.stages.dedup import partition_steps

from .helpers import make_stage, text_batch
from .phase_driver import COLUMNS, decide

SHARD_SIZES = (900, 0, 1300, 17, 783)


def corpus(seed: int = 7) -> list[str | None]:
    """Unique documents plus planted exact copies, near copies and chains A ~ B ~ C straddling the threshold."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(3000)]

    def fresh() -> list[str]:
        return [vocab[i] for i in rng.integers(len(vocab), size=int(rng.integers(40, 90)))]

    texts: list[str | None] = []
    while len(texts) < sum(SHARD_SIZES):
        roll = rng.random()
        earlier = [t for t in texts[-400:] if t and len(t.split()) > 5]
        if roll < 0.45 or not earlier:
            texts.append(" ".join(fresh()))
        elif roll < 0.55:  # exact copy, case and whitespace changed
            source = earlier[int(rng.integers(len(earlier)))]
            texts.append("  " + source.upper().replace(" ", " \t ") if rng.random() < 0.5 else source)
        elif roll < 0.8:  # near copy of an earlier row (0 to 6 words replaced: some pass 0.8, some do not)
            words = earlier[int(rng.integers(len(earlier)))].split()
            for pos in rng.integers(len(words), size=int(rng.integers(0, 7))):
                words[pos] = vocab[int(rng.integers(len(vocab)))]
            texts.append(" ".join(words))
        elif roll < 0.95:  # chain: A, then B drifted from A, then C drifted further from B
            words = fresh()
            texts.append(" ".join(words))
            for _ in range(2):
                words = words[: len(words) - 3] + [vocab[int(i)] for i in rng.integers(len(vocab), size=3)]
                texts.append(" ".join(words))
        else:
            texts.append([None, "", "  ", "(!)", "one two"][int(rng.integers(5))])
    return texts[: sum(SHARD_SIZES)]


def text_tables(texts: list[str | None], sizes: tuple[int, ...] = SHARD_SIZES) -> list[pa.Table]:
    """The texts as shards of ``sizes`` rows, ids ``r0, r1 ...``."""
    tables, start = [], 0
    for size in sizes:
        chunk = texts[start : start + size]
        ids = [f"r{start + i}" for i in range(size)]
        tables.append(pa.table({"id": ids, "text": pa.array(chunk, type=pa.string())}))
        start += size
    return tables


def stage_columns(texts: list[str | None], params: dict[str, Any]) -> dict[str, list[Any]]:
    """The streaming stage over the same rows, in batches of 500 as the runner would call it."""
    stage = make_stage(**params)
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for start in range(0, len(texts), 500):
        chunk = texts[start : start + 500]
        result = stage.process(text_batch([f"r{start + i}" for i in range(len(chunk))], chunk))
        for c in COLUMNS:
            out[c] += result[c].to_pylist()
    return out


@pytest.fixture(scope="module")
def data() -> tuple[list[str | None], list[pa.Table]]:
    texts = corpus()
    return texts, text_tables(texts)


@pytest.fixture(scope="module")
def expected(data: tuple[list[str | None], list[pa.Table]]) -> dict[str, list[Any]]:
    return stage_columns(data[0], {})


def test_planted_cases_are_present(expected: dict[str, list[Any]]) -> None:
    kinds = expected["dup_kind"]
    assert kinds.count("exact") > 150
    assert kinds.count("near") > 300
    assert len(kinds) - kinds.count(None) < 0.6 * len(kinds)


@pytest.mark.parametrize("partitions", [1, 4])
def test_same_columns_as_the_stage_in_process(
    tmp_path: Path, data: tuple[list[str | None], list[pa.Table]], expected: dict[str, list[Any]], partitions: int
) -> None:
    texts, tables = data
    decided = decide(tables, {}, tmp_path / "work", partitions)
    got = decided.columns
    assert got["id"] == [f"r{i}" for i in range(len(texts))]
    for c in COLUMNS:
        assert got[c] == expected[c], c
    assert decided.summary["duplicates"] == len(texts) - expected["dup_kind"].count(None)
    assert decided.summary["spilled_bytes"] > 0


def test_resolve_matters_beyond_member_to_earliest(
    data: tuple[list[str | None], list[pa.Table]], tmp_path: Path
) -> None:
    """Some duplicates point at a representative that is not their component's earliest row (chains)."""
    work = tmp_path / "work"
    got = decide(data[1], {}, work, 2).columns
    starts = np.cumsum([0, *SHARD_SIZES[:-1]])
    members = np.concatenate(
        [
            np.load(path)["rows"].astype(np.int64) + starts[int(path.stem)]
            for path in sorted((work / "members").glob("*.npz"))
        ]
    )
    edges = np.concatenate([np.load(work / "edges" / f"{p:04d}.npy") for p in range(2)])
    nodes = np.unique(edges.reshape(-1))
    roots = nodes[
        partition_steps.components(np.searchsorted(nodes, edges[:, 0]), np.searchsorted(nodes, edges[:, 1]), len(nodes))
    ]
    root_of = dict(zip(nodes.tolist(), roots.tolist(), strict=True))
    assert sorted(members.tolist()) == nodes.tolist()
    dup_rows = [i for i, d in enumerate(got["dup_of"]) if d is not None]
    assert all(i in root_of for i in dup_rows)  # every duplicate came through a component
    not_root = [i for i in dup_rows if got["dup_of"][i] != f"r{root_of[i]}"]
    assert len(not_root) > 20


def test_components_label_propagation() -> None:
    a = np.array([5, 1, 3, 7, 6], dtype=np.int64)
    b = np.array([4, 2, 4, 6, 8], dtype=np.int64)
    labels = partition_steps.components(a, b, 10)
    assert labels.tolist() == [0, 1, 1, 3, 3, 3, 6, 6, 6, 9]


def test_char_shingles_decide_like_the_stage(tmp_path: Path) -> None:
    texts = corpus(seed=3)[:1200]
    params = {"near_text": {"shingle": "char", "ngram": 9, "threshold": 0.7}}
    expected = stage_columns(texts, params)
    got = decide(text_tables(texts, (400, 400, 400)), params, tmp_path, 3).columns
    for c in COLUMNS:
        assert got[c] == expected[c], c


def test_dask_local_cluster_gives_the_same_columns(
    tmp_path: Path, data: tuple[list[str | None], list[pa.Table]], expected: dict[str, list[Any]]
) -> None:
    """The phase's steps as tasks of a Dask cluster (the ``flows`` extra brings Dask; CI installs it)."""
    distributed_dask = pytest.importorskip("dask.distributed")
    with (
        distributed_dask.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed_dask.Client(cluster) as client,
    ):
        got = decide(data[1], {}, tmp_path / "work", 4, client=client).columns
    for c in COLUMNS:
        assert got[c] == expected[c], c


def test_components_match_union_find_on_random_graphs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        nodes = int(rng.integers(1, 300))
        a, b = rng.integers(0, nodes, size=(2, int(rng.integers(0, 400))))
        parent = list(range(nodes))
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rx, ry = _find(parent, x), _find(parent, y)
            parent[max(rx, ry)] = min(rx, ry)
        assert partition_steps.components(a, b, nodes).tolist() == [_find(parent, x) for x in range(nodes)]


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        x = parent[x]
    return x


def shard_tables(texts: list[str | None], signals: list[list[str]], scores: list[float | None]) -> list[pa.Table]:
    """The corpus as the shards of SHARD_SIZES, with a signal column and a score column for the keep rules."""
    tables, start = [], 0
    for size in SHARD_SIZES:
        part = slice(start, start + size)
        tables.append(
            pa.table(
                {
                    "id": [f"r{i}" for i in range(start, start + size)],
                    "text": pa.array(texts[part], pa.string()),
                    "copyright_signals": pa.array(signals[part], pa.list_(pa.string())),
                    "quality": pa.array(scores[part], pa.float64()),
                }
            )
        )
        start += size
    return tables


def stage_by_shard(
    tables: list[pa.Table], params: dict[str, Any], columns: tuple[str, ...] = COLUMNS
) -> dict[str, list[Any]]:
    """The streaming stage as the committer drives it: it looks at every batch of a shard, decides, then answers.

    Each of ``columns`` as the stage returned it, or as the batch had it where the stage left it alone.
    """
    stage = make_stage(**params)
    out: dict[str, list[Any]] = {c: [] for c in columns}
    for table in tables:
        batches = [Batch(records=records) for records in table.to_batches(max_chunksize=500)]
        for batch in batches:
            stage.look(batch)
        stage.decide()
        for batch in batches:
            result = stage.process(batch)
            for c in columns:
                out[c] += (result[c] if c in result else batch.records.column(c)).to_pylist()
    return out


@pytest.mark.parametrize("rows", [700, 1_000_000])
def test_chunked_resolution_decides_like_batches(
    data: tuple[list[str | None], list[pa.Table]],
    expected: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    rows: int,
) -> None:
    """One big batch resolved in slices whose features are computed ahead (``keep: first`` past ``AHEAD_ROWS``),
    or resolved whole, gives the same columns."""
    from datahygiene.stages.dedup import lookahead

    monkeypatch.setattr(lookahead, "AHEAD_ROWS", rows)
    texts = data[0]
    out = make_stage().process(text_batch([f"r{i}" for i in range(len(texts))], texts))
    for c in COLUMNS:
        assert out[c].to_pylist() == expected[c], c
