"""`make demo`'s data through the shipped default config, offline: planted rows get exactly their reasons and tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datahygiene.cli.demo import make_demo
from datahygiene.cli.main import app
from datahygiene.core.config import load_config
from datahygiene.engine.run import run
from tests.helpers import rows_by_id

SIGNALS = ("likeness_signals", "copyright_signals", "synthetic_signals")

# Every demo row that the default run tags or rejects for consent, rights, likeness or provenance:
# route, reject_reasons, then likeness / copyright / synthetic signals. Every other row has none.
EXPECTED: dict[str, tuple[str, list[str], list[str], list[str], list[str]]] = {
    # planted for the rights, likeness and provenance stages (see datahygiene.cli.demo's docstring)
    "optout-noai": ("rejected", ["opt_out:robots"], [], ["opt_out:robots"], []),
    "p-tdm": ("rejected", ["opt_out:tdmrep"], [], ["opt_out:tdmrep"], []),
    "p-generated": ("kept", [], [], [], ["generation_parameters", "caption"]),
    "p-portrait": ("kept", [], ["face", "person_name", "identifiable_person"], [], []),
    "p-getty": ("kept", [], [], ["agency_credit", "license:nc", "notice"], []),
    # the older rights and disclosure rows
    "rights0": ("kept", [], [], ["agency_credit", "notice"], []),
    # "Jane Doe Photography" is a studio: a name may not end on an everyday word ("doe"), so no person_name
    "rights1": ("kept", [], [], ["notice"], []),
    "synth0": ("kept", [], [], [], ["caption"]),
    "synth1": ("kept", [], [], [], ["caption"]),
    "p2": ("kept", [], [], ["license:nc"], []),
    "p3": ("kept", [], [], ["creator_metadata", "license:proprietary", "rights_metadata"], []),
    "p5": ("kept", [], [], ["stock_source"], []),
    "p6": ("kept", [], [], ["license:unknown"], []),
}


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    counts = make_demo(root / "data")
    assert counts == {"texts.jsonl": 26, "pairs.parquet": 15, "photos/": 5}
    inputs = [str(root / "data" / name) for name in ("texts.jsonl", "pairs.parquet", "photos")]  # as `make demo`
    result = run(load_config(None, ["models.offline=true"]), inputs, root / "out", write_documents=False)
    assert result.exit_code == 0
    return root / "out"


@pytest.fixture(scope="module")
def rows(demo_out: Path) -> dict[str, dict[str, Any]]:
    return rows_by_id(demo_out)


def test_planted_rows_get_exactly_their_reasons_and_tags(rows: dict[str, dict[str, Any]]) -> None:
    for key, (route, reasons, likeness, rights, synthetic) in EXPECTED.items():
        row = rows[key]
        got = (row["route"], row["reject_reasons"], *(row[name] for name in SIGNALS))
        assert got == (route, reasons, likeness, rights, synthetic), key


def test_no_other_row_is_tagged(rows: dict[str, dict[str, Any]]) -> None:
    tagged = {key for key, row in rows.items() if any(row[name] for name in SIGNALS)}
    assert tagged == set(EXPECTED)
    opted_out = {key for key, row in rows.items() if any(r.startswith("opt_out:") for r in row["reject_reasons"])}
    assert opted_out == {"optout-noai", "p-tdm"}


def test_planted_evidence_names_its_source(rows: dict[str, dict[str, Any]]) -> None:
    assert [(e["signal"], e["value"]) for e in rows["optout-noai"]["copyright_evidence"]] == [
        ("opt_out:robots", "noai")
    ]
    assert any("tdm-reservation: 1" in e["value"] for e in rows["p-tdm"]["copyright_evidence"])
    assert any(
        line.startswith("generation_parameters: png:parameters") for line in rows["p-generated"]["synthetic_evidence"]
    )
    portrait = rows["p-portrait"]
    assert portrait["faces"] == 1
    assert "person_name: Jane Doe" in portrait["likeness_evidence"]
    assert portrait["nsfw"] is not None
    assert portrait["nsfw"] <= 0.5  # a drawn face is not nudity


def test_inspect_shows_every_reason_and_the_kept_tags(demo_out: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(demo_out), "--samples", "16"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    sample, _, tags = result.output.partition("tags on kept rows")
    for reason in ("opt_out:robots", "opt_out:tdmrep", "toxicity>0.8", "duplicate:near", "image_empty"):
        assert reason in sample
    lines = {tuple(cell.strip() for cell in line.split("│")[1:-1]) for line in tags.splitlines() if "│" in line}
    for row in [
        ("likeness_signals", "identifiable_person", "1", "p-portrait"),
        ("likeness_signals", "person_name", "1", "p-portrait"),
        ("synthetic_signals", "generation_parameters", "1", "p-generated"),
        ("synthetic_signals", "caption", "3", "synth0"),
        ("copyright_signals", "license:nc", "2", "p2"),
    ]:
        assert row in lines
    assert not any(cell[0].endswith("evidence") or cell[0] == "reject_reasons" for cell in lines)
