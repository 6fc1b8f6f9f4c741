"""The partitioned text path (signatures -> buckets -> clusters -> resolve -> filter) decides like the stage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datahygiene.core.stage import Batch
from datahygiene.stages.dedup import distributed
from datahygiene.stages.dedup.params import DedupParams

from .helpers import make_stage, text_batch

COLUMNS = ("dup_of", "dup_kind", "dup_similarity")
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


def write_shards(tmp: Path, texts: list[str | None]) -> list[Path]:
    paths, start = [], 0
    for k, size in enumerate(SHARD_SIZES):
        chunk = texts[start : start + size]
        table = pa.table({"id": [f"r{start + i}" for i in range(size)], "text": pa.array(chunk, type=pa.string())})
        paths.append(tmp / f"in-{k}.parquet")
        pq.write_table(table, paths[-1])
        start += size
    return paths


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


def distributed_columns(outputs: Sequence[Path | str]) -> dict[str, list[Any]]:
    table = pa.concat_tables([pq.read_table(p) for p in outputs])
    return {c: table.column(c).to_pylist() for c in ("id", *COLUMNS)}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str | None], list[Path]]:
    texts = corpus()
    return texts, write_shards(tmp_path_factory.mktemp("shards"), texts)


@pytest.fixture(scope="module")
def expected(data: tuple[list[str | None], list[Path]]) -> dict[str, list[Any]]:
    return stage_columns(data[0], {})


def test_planted_cases_are_present(expected: dict[str, list[Any]]) -> None:
    kinds = expected["dup_kind"]
    assert kinds.count("exact") > 150
    assert kinds.count("near") > 300
    assert len(kinds) - kinds.count(None) < 0.6 * len(kinds)


@pytest.mark.parametrize("partitions", [1, 4])
def test_same_columns_as_the_stage_in_process(
    tmp_path: Path, data: tuple[list[str | None], list[Path]], expected: dict[str, list[Any]], partitions: int
) -> None:
    texts, paths = data
    outputs, summary = distributed.run(paths, tmp_path / "work", DedupParams(), partitions=partitions)
    got = distributed_columns(outputs)
    assert got["id"] == [f"r{i}" for i in range(len(texts))]
    for c in COLUMNS:
        assert got[c] == expected[c], c
    assert summary["rows"] == len(texts)
    assert summary["duplicates"] == len(texts) - expected["dup_kind"].count(None)
    assert summary["spilled_bytes"] > 0
    assert not (tmp_path / "work" / "shards").exists()  # spill removed


def test_resolve_matters_beyond_member_to_earliest(data: tuple[list[str | None], list[Path]], tmp_path: Path) -> None:
    """Some duplicates point at a representative that is not their component's earliest row (chains)."""
    _texts, paths = data
    work = tmp_path / "work"
    outputs, _ = distributed.run(paths, work, DedupParams(), partitions=2, keep_spill=True)
    got = distributed_columns(outputs)
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
        distributed.components(np.searchsorted(nodes, edges[:, 0]), np.searchsorted(nodes, edges[:, 1]), len(nodes))
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
    labels = distributed.components(a, b, 10)
    assert labels.tolist() == [0, 1, 1, 3, 3, 3, 6, 6, 6, 9]


def test_char_shingles_and_tables_as_sources(tmp_path: Path) -> None:
    texts = corpus(seed=3)[:1200]
    params = {"near_text": {"shingle": "char", "ngram": 9, "threshold": 0.7}}
    expected = stage_columns(texts, params)
    tables = [pa.table({"id": [f"r{i}" for i in range(s, s + 400)], "text": texts[s : s + 400]}) for s in (0, 400, 800)]
    outputs, _ = distributed.run(tables, tmp_path, DedupParams.model_validate(params), partitions=3)
    got = distributed_columns(outputs)
    for c in COLUMNS:
        assert got[c] == expected[c], c


def test_dask_local_cluster_gives_the_same_columns(
    tmp_path: Path, data: tuple[list[str | None], list[Path]], expected: dict[str, list[Any]]
) -> None:
    distributed_dask = pytest.importorskip("dask.distributed")
    _texts, paths = data
    with (
        distributed_dask.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed_dask.Client(cluster) as client,
    ):
        outputs, _ = distributed.run(paths, tmp_path / "work", DedupParams(), partitions=4, client=client)
    got = distributed_columns(outputs)
    for c in COLUMNS:
        assert got[c] == expected[c], c


def test_cli_runs_the_partitioned_path(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from datahygiene.cli.main import app

    texts = corpus(seed=5)[:600]
    paths = []
    for k, start in enumerate((0, 300)):
        paths.append(tmp_path / f"{k}.parquet")
        ids = [f"r{i}" for i in range(start, start + 300)]
        pq.write_table(pa.table({"id": ids, "text": pa.array(texts[start : start + 300], pa.string())}), paths[-1])
    params = "{near_text: {threshold: 0.9}}"
    result = CliRunner().invoke(
        app, ["dedup-distributed", *map(str, paths), "--work", str(tmp_path / "w"), "--params", params]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    got = distributed_columns([Path(p) for p in summary["outputs"]])
    expected = stage_columns(texts, {"near_text": {"threshold": 0.9}})
    assert got["dup_of"] == expected["dup_of"]
    assert summary["duplicates"] == 600 - expected["dup_kind"].count(None) > 0
    bad = CliRunner().invoke(
        app, ["dedup-distributed", str(paths[0]), "--work", str(tmp_path), "--params", "{bands: x}"]
    )
    assert bad.exit_code == 2


def test_components_match_union_find_on_random_graphs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        nodes = int(rng.integers(1, 300))
        a, b = rng.integers(0, nodes, size=(2, int(rng.integers(0, 400))))
        parent = list(range(nodes))
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rx, ry = _find(parent, x), _find(parent, y)
            parent[max(rx, ry)] = min(rx, ry)
        assert distributed.components(a, b, nodes).tolist() == [_find(parent, x) for x in range(nodes)]


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


@pytest.mark.parametrize(
    "keep", [{"keep": "largest"}, {"keep": "most_metadata"}, {"keep": "score", "keep_score": "quality"}]
)
def test_keep_rules_decide_alike_streaming_and_partitioned(tmp_path: Path, keep: dict[str, Any]) -> None:
    texts = corpus(seed=11)
    rng = np.random.default_rng(3)
    signals = [["notice"] * int(rng.random() < 0.2) + ["license:nc"] * int(rng.random() < 0.1) for _ in texts]
    scores = [None if rng.random() < 0.1 else float(rng.integers(0, 5)) for _ in texts]  # many ties
    tables = shard_tables(texts, signals, scores)
    expected = stage_by_shard(tables, {**keep, "inherit": []})
    first = stage_by_shard(tables, {"inherit": []})
    changed = sum(a != b for a, b in zip(expected["dup_of"], first["dup_of"], strict=True))
    assert changed > 20  # the rule picks other representatives than input order
    outputs, _ = distributed.run(tables, tmp_path / "work", DedupParams.model_validate(keep), partitions=3)
    got = distributed_columns(outputs)
    for c in COLUMNS:
        assert got[c] == expected[c], c


@pytest.mark.parametrize("rows", [700, 1_000_000])
def test_chunked_resolution_decides_like_batches(
    data: tuple[list[str | None], list[Path]],
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


INHERITED = ("copyright_signals", "copyright_evidence")


def test_partitioned_path_inherits_rights_like_the_stage(tmp_path: Path) -> None:
    """Kept rows carry their same-shard duplicates' signals and evidence, as the streaming stage writes them."""
    texts = corpus(seed=5)
    rng = np.random.default_rng(9)
    signals = [["notice"] * int(rng.random() < 0.15) + ["license:nc"] * int(rng.random() < 0.1) for _ in texts]
    tables = [
        table.append_column(
            "copyright_evidence",
            pa.array(
                [[f"{s}: row {i}" for s in row] for i, row in enumerate(table.column("copyright_signals").to_pylist())],
                pa.list_(pa.string()),
            ),
        )
        for table in shard_tables(texts, signals, [None] * len(texts))
    ]
    expected = stage_by_shard(tables, {"keep": "largest"}, (*COLUMNS, *INHERITED))
    before = [v for table in tables for v in table.column("copyright_signals").to_pylist()]
    amended = sum(a != b for a, b in zip(expected["copyright_signals"], before, strict=True))
    assert amended > 10  # kept copies that gained a duplicate's signals
    assert any("from duplicate r" in e for row in expected["copyright_evidence"] for e in row)
    outputs, _ = distributed.run(tables, tmp_path / "work", DedupParams(keep="largest"), partitions=3)
    got = pa.concat_tables([pq.read_table(p) for p in outputs])
    for c in expected:
        assert got.column(c).to_pylist() == expected[c], c
