"""``keep`` picks the kept copy of a cluster, and the kept copy carries its cluster's rights and provenance.

Built from pictures made in code: one "news photo" at three sizes, one of them carrying the photographer's IPTC
rights, and C2PA-signed copies (signed offline) of one image beside an unsigned copy.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from datahygiene.core.config import load_config
from datahygiene.engine.run import RunResult, run
from datahygiene.stages.rights.samples import c2pa_jpeg, iptc_jpeg
from tests.helpers import rows_by_id

from .helpers import jpeg, scene

PERSONAL_USE = "(c) 2024 Jo Press Photographer. Personal use only."
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def config_file(tmp_path: Path, **dedup: Any) -> Path:
    """Metadata stages and dedup only (no model), the default policy's duplicate and opt-out rules."""
    config = {
        "image_batch_size": 2,  # several batches per shard: the decisions must not depend on them
        "stages": [
            {"name": "rights.copyright"},
            {"name": "provenance.synthetic", "params": {"watermark": False}},
            {"name": "provenance.c2pa"},
            {"name": "dedup", "params": dedup},
        ],
        "policy": {
            "rules": [
                {"when": "dup_kind not_null", "reason": "duplicate:{value}"},
                {"when": "copyright_signals contains opt_out:*", "reason": "{value}"},
            ]
        },
    }
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_folder(tmp_path: Path, inputs: list[Path], name: str, **dedup: Any) -> tuple[RunResult, dict[str, Any]]:
    result = run(load_config(config_file(tmp_path, **dedup)), [str(i) for i in inputs], tmp_path / name)
    assert result.exit_code == 0, result.manifest["shards"]
    return result, rows_by_id(tmp_path / name)


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """a-thumb (160 px, first), b-photo (640 px, largest), c-rights (320 px, the photographer's IPTC rights)."""
    folder = tmp_path_factory.mktemp("news")
    photo = scene(11, (640, 480))
    (folder / "a-thumb.jpg").write_bytes(jpeg(photo.resize((160, 120))))
    (folder / "b-photo.jpg").write_bytes(jpeg(photo))
    rights = {(2, 116): PERSONAL_USE, (2, 80): "Jo Press", (2, 110): "Jo Press Photography"}
    (folder / "c-rights.jpg").write_bytes(iptc_jpeg(rights, photo.resize((320, 240))))
    return folder


@pytest.mark.parametrize(
    ("keep", "kept"), [("first", "a-thumb.jpg"), ("largest", "b-photo.jpg"), ("most_metadata", "c-rights.jpg")]
)
def test_the_kept_copy_carries_the_photographers_rights(tmp_path: Path, news: Path, keep: str, kept: str) -> None:
    _, rows = run_folder(tmp_path, [news], "out", keep=keep)
    assert [row_id for row_id, row in rows.items() if row["route"] == "kept"] == [kept]
    for row_id, row in rows.items():
        if row_id != kept:
            assert row["dup_of"] == kept
            assert row["dup_kind"] == "near"
    own = rows["c-rights.jpg"]["copyright_signals"]
    assert {"license:nc", "creator_metadata"} <= set(own)  # "personal use only": not for commercial training
    assert set(own) <= set(rows[kept]["copyright_signals"])
    sources = {(e["signal"], e["source"]) for e in rows[kept]["copyright_evidence"]}
    if kept != "c-rights.jpg":  # inherited: after the row's own signals, evidence naming the duplicate
        assert rows[kept]["copyright_signals"][-len(own) :] == own
        assert ("license:nc", "duplicate c-rights.jpg: iptc:CopyrightNotice") in sources
        assert ("creator_metadata", "duplicate c-rights.jpg: iptc:By-line") in sources
    else:
        assert ("license:nc", "iptc:CopyrightNotice") in sources


def test_without_inheritance_the_rights_vanish_from_the_kept_data(tmp_path: Path, news: Path) -> None:
    """What happened before (``inherit: []``): the kept thumbnail has no rights signal."""
    _, rows = run_folder(tmp_path, [news], "out", inherit=[])
    assert rows["a-thumb.jpg"]["route"] == "kept"
    assert rows["a-thumb.jpg"]["copyright_signals"] == []


def test_decisions_do_not_depend_on_batches_or_the_order_of_files(tmp_path: Path, news: Path) -> None:
    """The whole shard is decided at once: one batch per image or all in one batch, the same rows."""
    config = load_config(config_file(tmp_path, keep="largest"), ["image_batch_size=1"])
    run(config, [str(news)], tmp_path / "small")
    config = load_config(config_file(tmp_path, keep="largest"), ["image_batch_size=64"])
    run(config, [str(news)], tmp_path / "large")
    small, large = rows_by_id(tmp_path / "small"), rows_by_id(tmp_path / "large")
    project = ("route", "dup_of", "dup_kind", "copyright_signals", "copyright_evidence")
    assert {k: [v[c] for c in project] for k, v in small.items()} == {
        k: [v[c] for c in project] for k, v in large.items()
    }


def test_a_signed_copy_is_kept_or_its_provenance_travels(tmp_path: Path) -> None:
    """An unsigned copy first, then copies signed with C2PA manifests: AI generated, no AI training."""
    folder = tmp_path / "c2pa"
    folder.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(__import__("numpy").asarray(scene(5, (256, 192)))).save(buffer, "JPEG", quality=92)
    plain = buffer.getvalue()
    (folder / "1-unsigned.jpg").write_bytes(plain)
    (folder / "2-signed-ai.jpg").write_bytes(c2pa_jpeg(source_type=AI, image=plain))
    (folder / "3-signed-no-training.jpg").write_bytes(c2pa_jpeg({"c2pa.ai_training": "notAllowed"}, image=plain))
    _, chosen = run_folder(tmp_path, [folder], "most", keep="most_metadata")
    kept = chosen["2-signed-ai.jpg"]
    assert kept["c2pa_state"] == "valid"  # a signed copy is the representative, not the unsigned one
    assert chosen["1-unsigned.jpg"]["dup_of"] == "2-signed-ai.jpg"
    # the no-training copy is its duplicate: the representative inherits the opt-out, and the policy acts on it
    assert "opt_out:c2pa" in kept["copyright_signals"]
    assert kept["route"] == "rejected"
    assert "opt_out:c2pa" in kept["reject_reasons"]
    sheet = json.loads((tmp_path / "most" / "datasheet.json").read_text())
    assert sheet["c2pa"] == {"valid": {"kept": 0, "removed": 2}}  # the datasheet counts the manifests
    _, first = run_folder(tmp_path, [folder], "first", keep="first")
    unsigned = first["1-unsigned.jpg"]
    assert unsigned["c2pa_state"] is None
    assert unsigned["synthetic_signals"] == ["c2pa"]
    assert unsigned["synthetic_evidence"][0].startswith("c2pa: from duplicate 2-signed-ai.jpg: digitalSourceType ")
    assert unsigned["route"] == "rejected"  # laundering the opt-out through the unsigned copy is not possible
    assert unsigned["reject_reasons"] == ["opt_out:c2pa"]


def test_across_shards_the_committed_representative_stays(tmp_path: Path, news: Path) -> None:
    """A duplicate in a later shard never rewrites an earlier, committed shard: its signals stay on its own row."""
    first = tmp_path / "shard1"
    first.mkdir()
    (first / "a-thumb.jpg").write_bytes((news / "a-thumb.jpg").read_bytes())
    second = tmp_path / "shard2"
    second.mkdir()
    (second / "c-rights.jpg").write_bytes((news / "c-rights.jpg").read_bytes())
    _, rows = run_folder(tmp_path, [first, second], "out", keep="most_metadata")
    assert rows["a-thumb.jpg"]["route"] == "kept"
    assert rows["a-thumb.jpg"]["copyright_signals"] == []
    assert rows["c-rights.jpg"]["dup_of"] == "a-thumb.jpg"
    assert "license:nc" in rows["c-rights.jpg"]["copyright_signals"]
    sheet = json.loads((tmp_path / "out" / "datasheet.json").read_text())
    assert any(w.startswith("1 removed duplicate(s) carry rights or provenance signals") for w in sheet["warnings"])
    run_folder(tmp_path, [news], "one-shard", keep="most_metadata")
    assert not json.loads((tmp_path / "one-shard" / "datasheet.json").read_text())["warnings"]


@pytest.mark.parametrize(
    ("stages", "keep", "looks"),
    [
        ([], "first", False),  # nothing to inherit: decided as the rows stream by, no spool
        ([{"name": "rights.copyright"}], "first", True),
        ([], "largest", True),
    ],
)
def test_dedup_looks_ahead_only_when_the_run_gives_it_a_reason(
    tmp_path: Path, stages: list[dict[str, Any]], keep: str, looks: bool
) -> None:
    from datahygiene.core.stage import StageContext, amended_columns
    from datahygiene.engine.pipeline import Pipeline

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"stages": [*stages, {"name": "dedup", "params": {"keep": keep}}]}))
    pipeline = Pipeline(load_config(path), StageContext(offline=True))
    dedup = pipeline.ordered.stages[-1]
    assert [id(stage) for stage in pipeline.ordered.lookahead()] == ([id(dedup)] if looks else [])
    assert ("copyright_signals" in amended_columns(dedup)) == bool(stages)
