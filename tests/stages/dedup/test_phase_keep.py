"""The flow's dedup phase decides and inherits like the streaming stage, ``keep`` rules included.

Driven as the flow drives it (a spiller per shard, ``decide`` as tasks, then per shard ``columns`` and
``amendments``) over shards whose clusters straddle shard boundaries, with rights and provenance signals
(struct and text evidence) on some copies, and compared row for row with the stage as the CLI drives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.stages.rights.copyright import EVIDENCE_TYPE

from .phase_driver import COLUMNS, decide
from .test_phase_text import SHARD_SIZES, corpus, shard_tables, stage_by_shard

SIGNALS = ("copyright_signals", "copyright_evidence", "synthetic_signals", "synthetic_evidence")


def signal_tables(seed: int) -> list[pa.Table]:
    """The corpus as shards with copyright signals (struct evidence), synthetic signals (text evidence), a score."""
    texts = corpus(seed=seed)
    rng = np.random.default_rng(seed + 1)
    copyright = [["notice"] * int(rng.random() < 0.15) + ["license:nc"] * int(rng.random() < 0.1) for _ in texts]
    synthetic = [["caption"] * int(rng.random() < 0.1) for _ in texts]
    scores = [None if rng.random() < 0.1 else float(rng.integers(0, 5)) for _ in texts]  # ties and nulls
    tables = []
    for table in shard_tables(texts, copyright, scores):
        ids = table.column("id").to_pylist()
        own = table.column("copyright_signals").to_pylist()
        start = int(ids[0][1:]) if ids else 0
        mine = synthetic[start : start + len(ids)]
        pairs = list(zip(ids, own, mine, strict=True))
        evidence = [[{"signal": s, "source": "text", "value": f"row {i}"} for s in row] for i, row, _ in pairs]
        disclosed = [[f"{s}: disclosed in {i}" for s in row] for i, _, row in pairs]
        table = table.append_column("copyright_evidence", pa.array(evidence, pa.list_(EVIDENCE_TYPE)))
        table = table.append_column("synthetic_signals", pa.array(mine, pa.list_(pa.string())))
        table = table.append_column("synthetic_evidence", pa.array(disclosed, pa.list_(pa.string())))
        tables.append(table)
    return tables


def phase_columns(tables: list[pa.Table], params: dict[str, Any], work: Path) -> dict[str, list[Any]]:
    """The phase's columns per row, and the signal columns with its amendments applied, in input order."""
    decided = decide(tables, params, work, 3, signals=SIGNALS)
    assert len(decided.phase.work.names("decisions/00002")) > 1  # a shard's clusters were resolved in several parts
    return decided.columns


@pytest.fixture(scope="module")
def tables() -> list[pa.Table]:
    return signal_tables(seed=13)


@pytest.mark.parametrize(
    "keep",
    [{}, {"keep": "largest"}, {"keep": "most_metadata"}, {"keep": "score", "keep_score": "quality"}],
    ids=["first", "largest", "most_metadata", "score"],
)
def test_the_phase_decides_and_inherits_like_the_stage(
    tables: list[pa.Table], keep: dict[str, Any], tmp_path: Path
) -> None:
    expected = stage_by_shard(tables, keep, (*COLUMNS, *SIGNALS))
    got = phase_columns(tables, keep, tmp_path / "work")
    for c in expected:
        assert got[c] == expected[c], c
    before = {c: [v for table in tables for v in table.column(c).to_pylist()] for c in SIGNALS}
    for c in SIGNALS:  # kept copies that gained a same-shard duplicate's signals, with evidence naming it
        assert sum(a != b for a, b in zip(expected[c], before[c], strict=True)) > 3, c
    assert any("duplicate r" in str(e["source"]) for row in expected["copyright_evidence"] for e in row)
    assert any("from duplicate r" in e for row in expected["synthetic_evidence"] for e in row)


def test_keep_rules_change_the_representatives_and_clusters_straddle_shards(tables: list[pa.Table]) -> None:
    """The cases above are there: other representatives than input order, and duplicates of earlier shards
    carrying signals that their committed representative does not inherit."""
    first = stage_by_shard(tables, {}, (*COLUMNS, *SIGNALS))
    for keep in ({"keep": "largest"}, {"keep": "most_metadata"}, {"keep": "score", "keep_score": "quality"}):
        other = stage_by_shard(tables, keep, COLUMNS)
        assert sum(a != b for a, b in zip(other["dup_of"], first["dup_of"], strict=True)) > 20, keep
    starts = np.cumsum([0, *SHARD_SIZES])
    shard_of = {f"r{i}": int(np.searchsorted(starts, i, side="right")) - 1 for i in range(int(starts[-1]))}
    ids = [f"r{i}" for i in range(int(starts[-1]))]
    crossing = [
        i
        for i, (rid, rep) in enumerate(zip(ids, first["dup_of"], strict=True))
        if rep is not None and shard_of[rep] != shard_of[rid] and first["copyright_signals"][i]
    ]
    assert len(crossing) > 5
    index = {rid: i for i, rid in enumerate(ids)}
    uninherited = [
        i
        for i in crossing
        if not set(first["copyright_signals"][i]) <= set(first["copyright_signals"][index[first["dup_of"][i]]])
    ]
    assert uninherited  # a committed representative is never rewritten: the later shard's signal stays with its row
