"""A spool carries every artifact a stage declared for the commit, and refuses what it cannot carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core import registry
from datahygiene.core.config import ConfigError, parse_config
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import (
    ArtifactKind,
    Batch,
    ChainSummary,
    ColumnRole,
    ScoredBatch,
    StageBase,
    StageContext,
    StageParams,
)
from datahygiene.engine import workers
from datahygiene.engine.pipeline import StageChain
from datahygiene.io.spool import SpoolError, read_spool, spool_info, write_spool
from tests.flows.data import flow_config


def _scored(artifacts: dict[str, Any]) -> ScoredBatch:
    records = pa.record_batch({"id": ["a", "b"], "image": pa.nulls(2, pa.struct([("bytes", pa.binary())]))})
    return ScoredBatch(records=records, reasons=Reasons(2), artifacts=artifacts)


def test_an_undeclared_artifact_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="'notes' is not declared"):
        write_spool(tmp_path / "s.arrow", [_scored({"notes": np.zeros(2)})], ChainSummary())
    assert not (tmp_path / "s.arrow").exists()


@pytest.mark.parametrize(
    ("kind", "value", "match"),
    [
        (ArtifactKind.ROW_ARRAY, np.zeros(3), "one entry per row"),
        (ArtifactKind.ROW_ARRAY, ["x", "y"], "numeric array"),
        (ArtifactKind.ROW_BYTES, {0: "not bytes"}, "row: bytes"),
    ],
)
def test_an_artifact_of_the_wrong_shape_is_an_error(tmp_path: Path, kind: ArtifactKind, value: Any, match: str) -> None:
    summary = ChainSummary(artifacts=(("thing", kind.value),))
    with pytest.raises(SpoolError, match=match):
        write_spool(tmp_path / "s.arrow", [_scored({"thing": value})], summary)


def test_declarations_and_roles_travel_with_the_spool(tmp_path: Path) -> None:
    summary = ChainSummary(
        artifacts=(("emb", ArtifactKind.ROW_ARRAY.value), ("cache", ArtifactKind.BATCH_LOCAL.value)),
        roles=(("faces", ColumnRole.FACE_COUNT.value),),
    )
    path = tmp_path / "s.arrow"
    write_spool(path, [_scored({"emb": np.ones((2, 4), np.float32), "cache": object()})], summary)
    assert spool_info(path).scoring == summary
    (back,) = list(read_spool(path, flow_config(), decode_images=False))
    assert set(back.artifacts) == {"emb"}


class _LocalOnlyParams(StageParams):
    pass


@registry.register("test.local_only")
class _LocalOnlyStage(StageBase[_LocalOnlyParams]):
    """A stage that cannot run in a flow, and a role-carrying column."""

    Params: ClassVar[type[StageParams]] = _LocalOnlyParams
    runs_in_flows: ClassVar[bool] = False
    column_roles: ClassVar[dict[str, ColumnRole]] = {"n_faces": ColumnRole.FACE_COUNT}

    def output_schema(self) -> pa.Schema:
        return pa.schema([("n_faces", pa.int32())])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        return {"n_faces": pa.array([0] * batch.num_rows, pa.int32())}


def test_a_stage_that_cannot_run_in_a_flow_is_refused_before_any_work(tmp_path: Path) -> None:
    config = parse_config({"stages": [{"name": "test.local_only"}], "policy": {"rules": []}})
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "x"}\n')
    with pytest.raises(ConfigError, match="cannot run in a flow"):
        workers.plan_jobs(config, [str(tmp_path / "in.jsonl")], tmp_path / "out", resume=False)
    assert not (tmp_path / "out").exists()


def test_stage_chains_summarise_declared_artifacts_and_roles() -> None:
    chain = StageChain.build([("test.local_only", _LocalOnlyParams())], StageContext())
    summary = chain.summary()
    assert summary.roles == (("n_faces", "face_count"),)
    assert summary.artifacts == ()
