"""The per-shard API: scoring in any order, then committing in input order, equals ``datahygiene run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datahygiene.core.config import ConfigError
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import IMAGE_REPLACEMENTS, ArtifactKind, ChainSummary, ScoredBatch
from datahygiene.engine import workers as orchestrate
from datahygiene.engine.pipeline import Pipeline
from datahygiene.engine.plan import OutputBusyError
from datahygiene.engine.run import Committer, run
from datahygiene.io.spool import read_spool, write_spool
from tests.flows.data import comparable_manifest, flow_config, make_inputs, output_files
from tests.stages.likeness.conftest import encode, scene


def run_by_shard(config_inputs: tuple[Any, list[str]], output: Path, *, resume: bool = False) -> None:
    config, inputs = config_inputs
    plan, jobs = orchestrate.plan_jobs(config, inputs, output, resume=resume)
    scored = {job.shard.index: orchestrate.score_shard(job) for job in reversed(jobs)}  # any order
    committer = Committer(plan)
    for job in jobs:
        record = orchestrate.commit_scored(committer, job, scored[job.shard.index])
        assert "error" not in record, record
    result = orchestrate.finish(committer, write_documents=False)
    assert result.exit_code == 0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


def test_scored_anywhere_then_committed_in_order_equals_cli(inputs: list[str], tmp_path: Path) -> None:
    config = flow_config()
    reference = run(config, inputs, tmp_path / "cli", write_documents=False)
    assert reference.exit_code == 0
    assert reference.manifest["reject_reasons"].get("duplicate:exact", 0) >= 3  # dedup ran across shards
    run_by_shard((config, inputs), tmp_path / "shards")
    assert output_files(tmp_path / "shards") == output_files(tmp_path / "cli")
    assert comparable_manifest(tmp_path / "shards") == comparable_manifest(tmp_path / "cli")
    assert not (tmp_path / "shards" / "_tmp" / "scored").exists()


def test_scoring_stages_are_built_once_per_process_and_spools_are_reused(inputs: list[str], tmp_path: Path) -> None:
    config = flow_config(batch_size=8)
    _plan, jobs = orchestrate.plan_jobs(config, inputs[:3], tmp_path / "out", resume=False)
    before = orchestrate.pipelines_built()
    first = [orchestrate.score_shard(job) for job in jobs]
    assert orchestrate.pipelines_built() == before + 1
    assert not any(scored.reused for scored in first)
    again = orchestrate.score_shard(jobs[0])  # a crashed run's spool, found by the rerun
    assert again.reused
    assert again.rows == first[0].rows == 50
    assert again.scoring == first[0].scoring
    assert [owner for owner, _ in again.scoring.fields][-1] == "blocklist"  # dedup is not a scoring stage


def test_policy_error_leaves_no_output(inputs: list[str], tmp_path: Path) -> None:
    config = flow_config(policy={"rules": [{"when": "no_such_column > 1"}]})
    plan, jobs = orchestrate.plan_jobs(config, inputs[:1], tmp_path / "out", resume=False)
    scored = orchestrate.score_shard(jobs[0])
    with pytest.raises(ConfigError, match="no_such_column"):
        orchestrate.commit_scored(Committer(plan), jobs[0], scored)
    orchestrate.discard_spools(plan)
    assert not (tmp_path / "out").exists()


def test_spool_keeps_reasons_order_and_artifacts(tmp_path: Path) -> None:
    reasons = Reasons(3)
    reasons.add_row(2, "image_truncated")
    reasons.add_mask(np.array([True, False, True]), "empty_text")
    records = pa.record_batch({"id": ["a", "b", "c"], "image": pa.nulls(3, pa.struct([("bytes", pa.binary())]))})
    embeddings = np.arange(6, dtype=np.float32).reshape(3, 2)
    artifacts = {"clip_image_embeddings": embeddings, IMAGE_REPLACEMENTS: {1: b"blurred"}, "cache": (object(), 1)}
    batch = ScoredBatch(records=records, reasons=reasons, artifacts=artifacts)
    path = tmp_path / "spool.arrow"
    declared = (
        ("clip_image_embeddings", ArtifactKind.ROW_ARRAY.value),
        (IMAGE_REPLACEMENTS, ArtifactKind.ROW_BYTES.value),
        ("cache", ArtifactKind.BATCH_LOCAL.value),
    )
    write_spool(path, [batch], ChainSummary(artifacts=declared))
    (back,) = list(read_spool(path, flow_config(), decode_images=True))
    assert back.records.equals(records)
    assert back.reasons.to_arrow().to_pylist() == reasons.to_arrow().to_pylist()
    back.reasons.add_mask(np.array([True, True, False]), "duplicate_id")
    reasons.add_mask(np.array([True, True, False]), "duplicate_id")
    assert back.reasons.to_arrow().to_pylist() == reasons.to_arrow().to_pylist()
    np.testing.assert_array_equal(back.artifacts["clip_image_embeddings"], embeddings)
    assert back.artifacts[IMAGE_REPLACEMENTS] == {1: b"blurred"}
    assert "cache" not in back.artifacts  # worker-local caches stay behind
    assert back.images is None


def test_two_runs_cannot_commit_into_one_output(inputs: list[str], tmp_path: Path) -> None:
    config = flow_config()
    first_plan, jobs = orchestrate.plan_jobs(config, inputs[:2], tmp_path / "out", resume=True)
    second_plan, _ = orchestrate.plan_jobs(config, inputs[:2], tmp_path / "out", resume=True)
    scored = orchestrate.score_shard(jobs[0])
    first = Committer(first_plan)
    orchestrate.commit_scored(first, jobs[0], scored)
    with pytest.raises(OutputBusyError, match="another run is writing"):
        Committer(second_plan).attach(Pipeline(config, second_plan.context))
    first.close()
    with pytest.raises(OutputBusyError, match="since this one started"):  # its plan missed the first's commit
        Committer(second_plan).attach(Pipeline(config, second_plan.context))


def test_blurred_images_travel_from_the_worker_to_the_commit(tmp_path: Path) -> None:
    face, plain = encode(scene()), encode(scene(face=0))
    table = pa.table(
        {
            "id": ["blur", "plain", "named"],
            "text": ["a quiet lake", "a lake at dawn", "Portrait of Eileen Collins"],
            "image": [{"bytes": b, "path": None} for b in (face, plain, face)],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    config = flow_config(
        stages=[{"name": "likeness", "params": {"blur": ["face"]}}, {"name": "dedup"}],
        policy={"rules": [{"when": "likeness_signals contains person_name"}]},
    )
    inputs = [str(tmp_path / "in.parquet")]
    assert run(config, inputs, tmp_path / "cli", write_documents=False).exit_code == 0
    run_by_shard((config, inputs), tmp_path / "shards")
    assert output_files(tmp_path / "shards") == output_files(tmp_path / "cli")
    kept = pq.read_table(tmp_path / "shards" / "kept" / "part-00000.parquet").to_pylist()
    assert kept[0]["id"] == "blur"
    assert kept[0]["image"]["bytes"] != face  # the blurred copy, made on the worker
