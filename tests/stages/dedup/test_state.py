"""Checkpoints (resume decides like an uninterrupted run) and the cross-run index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datahygiene.core.stage import StageContext
from datahygiene.stages.dedup.state import IndexMismatchError

from .helpers import column, image_batch, jpeg, make_stage, scene, text_batch
from .test_text import doc


def shards() -> list[tuple[list[str], list[str | None]]]:
    d = [" ".join(doc(s)) for s in range(6)]
    return [
        (["a0", "a1", "a2"], [d[0], d[1], d[0]]),
        (["b0", "b1"], [d[2], d[1]]),
        (["c0", "c1", "c2"], [d[3], d[2], d[4]]),
    ]


def run(stage_dirs: list[Path] | None, ctx: StageContext, resume_from: int | None = None) -> list[list[str | None]]:
    stage = make_stage(ctx)
    results = []
    start = 0
    if resume_from is not None and stage_dirs is not None:
        stage.load_state(stage_dirs[resume_from])
        start = resume_from + 1
    for k, (ids, texts) in enumerate(shards()[start:], start=start):
        results.append(column(stage.process(text_batch(ids, texts)), "dup_of"))
        if stage_dirs is not None:
            stage.save_state(stage_dirs[k])
    stage.commit_run()
    return results


def test_resume_decides_like_uninterrupted(tmp_path: Path) -> None:
    full = run(None, StageContext())
    assert full == [[None, None, "a0"], [None, "a1"], [None, "b0", None]]
    dirs = [tmp_path / f"shard{k}" for k in range(3)]
    run(dirs, StageContext())
    resumed = run([tmp_path / f"r{k}" for k in range(3)], StageContext())
    assert resumed == full
    # resume after shard 0 from its checkpoint only
    stage = make_stage()
    stage.load_state(dirs[0])
    out = [column(stage.process(text_batch(ids, texts)), "dup_of") for ids, texts in shards()[1:]]
    assert out == full[1:]
    # checkpoints hard-link earlier segments instead of rewriting them
    assert sorted(p.name for p in dirs[2].glob("*.npz")) == [f"dedup-seg-{k:06d}.npz" for k in range(3)]


def test_second_run_drops_duplicates_of_first_run(tmp_path: Path) -> None:
    index = tmp_path / "index"
    ctx = StageContext(dedup_index=index)
    first = make_stage(ctx)
    d = [" ".join(doc(s)) for s in range(4)]
    images = [jpeg(scene(1)), jpeg(scene(2))]
    first.process(text_batch(["t0", "t1"], [d[0], d[1]]))
    first.process(image_batch(["i0", "i1"], images))
    assert not (index / "manifest.json").exists()  # nothing published before the run commits
    first.commit_run()
    assert (index / "manifest.json").exists()

    second = make_stage(ctx)
    out = second.process(text_batch(["n0", "n1", "n2"], [d[2], d[1], d[2]]))
    assert column(out, "dup_of") == [None, "t1", "n0"]
    out = second.process(image_batch(["j0"], [jpeg(scene(2).resize((200, 150)))]))
    assert column(out, "dup_of") == ["i1"]
    assert column(out, "dup_kind") == ["near"]
    second.commit_run()

    third = make_stage(ctx)  # sees both earlier runs
    out = third.process(text_batch(["z0", "z1"], [d[2], d[3]]))
    assert column(out, "dup_of") == ["n0", None]


def test_uncommitted_run_leaves_index_untouched(tmp_path: Path) -> None:
    ctx = StageContext(dedup_index=tmp_path / "index")
    a = make_stage(ctx)
    a.process(text_batch(["x"], [" ".join(doc(1))]))
    a.commit_run()
    before = (tmp_path / "index" / "manifest.json").read_bytes()
    b = make_stage(ctx)
    b.process(text_batch(["y"], [" ".join(doc(2))]))
    b.save_state(tmp_path / "ckpt")  # crash before commit_run
    assert (tmp_path / "index" / "manifest.json").read_bytes() == before
    out = make_stage(ctx).process(text_batch(["z"], [" ".join(doc(2))]))
    assert column(out, "dup_of") == [None]


def test_index_with_other_settings_is_refused(tmp_path: Path) -> None:
    ctx = StageContext(dedup_index=tmp_path / "index")
    a = make_stage(ctx)
    a.process(text_batch(["x"], [" ".join(doc(1))]))
    a.commit_run()
    with pytest.raises(IndexMismatchError, match="built with"):
        make_stage(ctx, near_text={"num_perm": 64, "bands": 16})


def test_index_bytes_per_sample_is_bounded() -> None:
    stage = make_stage()
    texts = [" ".join(doc(s, 40)) for s in range(300)]
    stage.process(text_batch([f"r{i}" for i in range(300)], texts))
    total = sum(stage.state.nbytes().values())
    assert len(stage.state.ids) == 300
    assert total / 300 < 2000
    assert np.isfinite(total)


def test_rollback_to_empty_state_forgets_the_failed_shard(tmp_path: Path) -> None:
    stage = make_stage()
    a = " ".join(doc(1))
    stage.process(text_batch(["x"], [a]))  # shard fails before commit: the runner rolls back
    empty = tmp_path / "empty"
    empty.mkdir()
    stage.load_state(empty)
    assert column(stage.process(text_batch(["y", "z"], [a, a])), "dup_of") == [None, "y"]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_resume_after_the_index_was_published_adds_nothing_twice(tmp_path: Path) -> None:
    """A run killed between publishing to --dedup-index and writing its manifest resumes cleanly."""
    from tests.helpers import run_inputs

    data = tmp_path / "data"
    data.mkdir()
    for k in range(2):
        lines = [f'{{"id": "s{k}-{i}", "text": "shard {k} line {i} of the corpus"}}' for i in range(5)]
        lines.append(f'{{"id": "s{k}-copy", "text": "shard 0 line 1 of the corpus"}}')
        (data / f"part-{k}.jsonl").write_text("\n".join(lines) + "\n")
    index = tmp_path / "index"
    stages = 'stages=[{name: "dedup"}]'
    rule = 'policy.rules=[{when: "dup_kind not_null", reason: "duplicate:{value}"}]'
    out = tmp_path / "out"
    first = run_inputs([data], out, stages, rule, dedup_index=index, write_documents=False)
    assert first.exit_code == 0
    published = _snapshot(index)
    outputs = _snapshot(out / "kept") | _snapshot(out / "rejected")
    manifest = json.loads((out / "manifest.json").read_text())

    (out / "manifest.json").unlink()  # the crash: index published, manifest not yet written
    resumed = run_inputs([data], out, stages, rule, dedup_index=index, resume=True, write_documents=False)
    assert resumed.exit_code == 0
    assert _snapshot(index) == published
    assert _snapshot(out / "kept") | _snapshot(out / "rejected") == outputs
    again = json.loads((out / "manifest.json").read_text())
    assert (again["rows_kept"], again["reject_reasons"]) == (manifest["rows_kept"], manifest["reject_reasons"])

    # resuming a finished run is a no-op for the index too
    assert run_inputs([data], out, stages, rule, dedup_index=index, resume=True, write_documents=False).exit_code == 0
    assert _snapshot(index) == published
    # and the next run still sees everything the first one kept
    later = tmp_path / "later"
    assert run_inputs([data / "part-1.jsonl"], later, stages, rule, dedup_index=index).exit_code == 0
    assert json.loads((later / "manifest.json").read_text())["rows_kept"] == 0
