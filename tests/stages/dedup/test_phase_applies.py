"""When the dedup phase decides as the stage would, and when the flow must commit serially instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.phase import DedupPhase

BASE = frozenset({"id", "text", "image"})


def phase(tmp_path: Path, **params: Any) -> DedupPhase:
    return DedupPhase(DedupParams.model_validate(params), WorkArea(tmp_path), partitions=2)


def test_keep_first_without_signals_applies(tmp_path: Path) -> None:
    assert phase(tmp_path).applies({}, BASE)


@pytest.mark.parametrize("keep", [{"keep": "largest"}, {"keep": "most_metadata"}, {"keep": "score", "keep_score": "q"}])
def test_a_keep_rule_falls_back(tmp_path: Path, keep: dict[str, Any]) -> None:
    assert not phase(tmp_path, **keep).applies({}, BASE | {"q"})


def test_signals_an_earlier_stage_produces_fall_back(tmp_path: Path) -> None:
    assert not phase(tmp_path).applies({}, BASE | {"copyright_signals"})
    assert phase(tmp_path, inherit=[]).applies({}, BASE | {"copyright_signals"})
