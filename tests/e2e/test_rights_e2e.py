"""``datahygiene run`` with rights.copyright: opted-out rows are rejected with their reason, the rest tagged."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.stages.rights.samples import c2pa_jpeg, exif_jpeg
from tests.helpers import rows_by_id


def _config(path: Path, do_not_train: Path) -> Path:
    """The shipped default's rights stage and rules, without the model stages."""
    default = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "default.yaml").read_text())
    [stage] = [s for s in default["stages"] if s["name"] == "rights.copyright"]
    stage["params"]["do_not_train_files"] = [str(do_not_train)]
    rules = [r for r in default["policy"]["rules"] if r["when"].startswith("copyright_signals")]
    assert len(rules) >= 2
    path.write_text(yaml.safe_dump({"stages": [{"name": "text.stats"}, stage], "policy": {"rules": rules}}))
    return path


def test_cli_rejects_opt_outs_and_keeps_tagged_rows(tmp_path: Path) -> None:
    listing = tmp_path / "do_not_train.txt"
    listing.write_text("artist.example\n")
    table = pa.table(
        {
            "id": ["c2pa", "robots", "listed", "constrained", "tagged", "clean"],
            "image": pa.array(
                [
                    c2pa_jpeg({"c2pa.ai_training": "notAllowed"}),
                    None,
                    None,
                    c2pa_jpeg({"c2pa.data_mining": "constrained"}),
                    exif_jpeg("Jane Doe", "Copyright 2021 Jane Doe"),
                    None,
                ],
                pa.binary(),
            ),
            "caption": ["signed", "a page", "a sketch", "terms apply", "a portrait", "a cat on a mat"],
            "url": [None, "https://example.org/p", "https://www.artist.example/s.png", None, None, None],
            "license": [None, None, None, None, "CC BY-NC 4.0", "CC0"],
            "headers": [None, "X-Robots-Tag: noai", None, None, None, None],
        }
    )
    pq.write_table(table, tmp_path / "data.parquet")
    out = tmp_path / "out"
    config = _config(tmp_path / "rights.yaml", listing)
    result = CliRunner().invoke(
        app, ["run", str(config), "--input", str(tmp_path / "data.parquet"), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = rows_by_id(out)
    routes = {key: (row["route"], row["reject_reasons"]) for key, row in rows.items()}
    assert routes == {
        "c2pa": ("rejected", ["opt_out:c2pa"]),
        "robots": ("rejected", ["opt_out:robots"]),
        "listed": ("rejected", ["opt_out:do_not_train"]),
        "constrained": ("quarantined", ["training_constrained:c2pa"]),
        "tagged": ("kept", []),
        "clean": ("kept", []),
    }
    assert rows["tagged"]["copyright_signals"] == ["creator_metadata", "license:nc", "rights_metadata"]
    assert rows["clean"]["copyright_signals"] == []
    evidence = rows["c2pa"]["copyright_evidence"]
    assert {
        "signal": "opt_out:c2pa",
        "source": "c2pa:training-mining",
        "value": "c2pa.ai_training=notAllowed",
    } in evidence
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reject_reasons"]["opt_out:c2pa"] == 1
    [model] = [m for m in manifest["models"] if m["stage"] == "rights.copyright"]
    assert model["lists"]["do_not_train"]["domains"] == 1
