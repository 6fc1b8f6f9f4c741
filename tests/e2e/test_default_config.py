"""The shipped default config end to end: every stage scores every decodable row, dedup spans shards and resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from datahygiene.cli.demo import make_demo
from datahygiene.core.config import load_config
from datahygiene.engine.run import run
from tests.helpers import read_route


def test_default_config_scores_every_decodable_row(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    make_demo(data)
    result = run(load_config(None, ["models.offline=true"]), [str(data / "*")], tmp_path / "out", write_documents=False)
    assert result.exit_code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    stages = {entry["stage"]: entry for entry in manifest["models"]}
    expected = {"toxicity.detoxify", "nsfw.openclip", "blocklist", "likeness", "rights.copyright"}
    assert expected | {"provenance.synthetic", "dedup"} <= set(stages)
    nsfw = stages["nsfw.openclip"]  # OpenCLIP weights when cached here, else the NudeNet fallback
    assert len((nsfw.get("fallback") or nsfw)["sha256"]) == 64
    tables = [t for t in (read_route(tmp_path / "out", r) for r in ("kept", "rejected")) if t is not None]
    for table in tables:
        has_text = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["text"])), 0), False)
        assert pc.all(pc.equal(has_text, pc.is_valid(table["toxicity"]))).as_py()
        for name in ("blocklist_hits", "dup_kind", "nsfw"):
            assert name in table.column_names
        assert pc.all(pc.is_valid(table["likeness_signals"])).as_py()
        assert pc.all(pc.equal(pc.is_valid(table["faces"]), pc.is_valid(table["nsfw"]))).as_py()
        assert table["synthetic_signals"].null_count == 0  # every row, with or without an image, is tagged
    reasons = manifest["reject_reasons"]
    assert reasons.get("toxicity>0.8", 0) >= 1
    assert any(reason.startswith("duplicate:") for reason in reasons)


def _write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": key, "text": text}) + "\n" for key, text in rows))
    return path


def test_dedup_spans_shards_and_resume_decides_the_same(tmp_path: Path) -> None:
    story = " ".join(f"w{k}" for k in range(80)) + " farmer"
    inputs = [
        _write_jsonl(tmp_path / "a.jsonl", [("a0", story), ("a1", "an unrelated line about tide pools and crabs")]),
        _write_jsonl(tmp_path / "b.jsonl", [("b0", "a recipe for bread with rye flour, salt and water")]),
        _write_jsonl(tmp_path / "c.jsonl", [("c0", story), ("c1", story.replace("farmer", "farmers"))]),
    ]
    config = load_config(
        Path("configs/minimal.yaml"),
        ["stages=[{name: dedup}]", "policy.rules=[{when: 'dup_kind not_null', reason: 'duplicate:{value}'}]"],
    )
    full = tmp_path / "full"
    assert run(config, [str(p) for p in inputs], full, write_documents=False).exit_code == 0
    rejected = read_route(full, "rejected")
    assert rejected is not None
    assert dict(zip(rejected["id"].to_pylist(), rejected["dup_of"].to_pylist(), strict=True)) == {
        "c0": "a0",
        "c1": "a0",
    }

    # A crash before the last shard's commit: drop its commit record, files and state, then resume.
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed)
    commit = resumed / "_commits" / "00002.json"
    for route in json.loads(commit.read_text())["files"].values():
        for entry in route:
            (resumed / entry["path"]).unlink()
    shutil.rmtree(resumed / "_state" / "00002")
    commit.unlink()
    (resumed / "manifest.json").unlink()
    assert run(config, [str(p) for p in inputs], resumed, resume=True, write_documents=False).exit_code == 0
    for route in ("kept", "rejected"):
        for path in sorted((full / route).glob("*.parquet")):
            assert pq.read_table(resumed / route / path.name).equals(pq.read_table(path))
            assert (resumed / route / path.name).read_bytes() == path.read_bytes()
