"""When the dedup phase decides as the stage would, and when the flow must commit serially instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.phase import DedupPhase

BASE = frozenset({"id", "text", "image"})
SIGNALS = BASE | {"copyright_signals", "copyright_evidence", "synthetic_signals", "synthetic_evidence", "q"}


def phase(tmp_path: Path, **params: Any) -> DedupPhase:
    return DedupPhase(DedupParams.model_validate(params), WorkArea(tmp_path), partitions=2)


@pytest.mark.parametrize(
    "keep", [{}, {"keep": "largest"}, {"keep": "most_metadata"}, {"keep": "score", "keep_score": "q"}]
)
def test_keep_rules_and_inherited_signals_run_partitioned(tmp_path: Path, keep: dict[str, Any]) -> None:
    assert phase(tmp_path, **keep).refusal({}, BASE) is None
    assert phase(tmp_path, **keep).refusal({}, SIGNALS) is None


def test_the_phase_amends_the_inherited_columns_and_their_evidence(tmp_path: Path) -> None:
    assert phase(tmp_path).amends == (
        "copyright_signals",
        "copyright_evidence",
        "synthetic_signals",
        "synthetic_evidence",
    )
    assert phase(tmp_path, inherit=[]).amends == ()


def test_semantic_dedup_with_its_embeddings_falls_back_with_a_reason(tmp_path: Path) -> None:
    semantic = phase(tmp_path, semantic={"enabled": True})
    artifact = semantic.params.semantic.artifact
    reason = semantic.refusal({artifact: "embeddings"}, SIGNALS)
    assert reason is not None
    assert "semantic" in reason
    assert artifact in reason
    assert semantic.refusal({}, SIGNALS) is None  # no embeddings in the run: the stage skips semantic too
