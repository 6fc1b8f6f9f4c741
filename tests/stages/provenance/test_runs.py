"""provenance.synthetic in real runs: keep and tag (default), reject, or route to quarantined/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from datahygiene.core import columns as C
from datahygiene.core.config import load_config
from datahygiene.stages.provenance.synthetic import DEFAULT_PAYLOADS
from tests.helpers import rows_by_id, run_inputs
from tests.stages.provenance.builders import (
    A1111_PARAMETERS,
    clean_photographs,
    encode,
    png_with_text,
    textured,
    watermarked,
)

STAGES = "stages=[{name: text.stats}, {name: provenance.synthetic}]"
EXPECTED = {
    "a1111": ["generation_parameters"],
    "marked": ["watermark"],
    "marked-jpeg": ["watermark"],
    "caption": ["caption"],
    "photo": [],
    "text-only": [],
}


@pytest.fixture
def pairs(write_parquet: Callable[..., Path]) -> Path:
    images = [
        png_with_text({"parameters": A1111_PARAMETERS}),
        encode(watermarked(textured(), DEFAULT_PAYLOADS[0].payload())),
        encode(watermarked(textured(seed=2), DEFAULT_PAYLOADS[1].payload()), "JPEG", quality=100),
        encode(textured(seed=2), "JPEG", quality=90),
        clean_photographs()[0].read_bytes(),
        None,
    ]
    return write_parquet(
        "pairs.parquet",
        {
            "id": list(EXPECTED),
            "caption": ["a castle", "a lighthouse", "a tower", "sunset #aiart", "a street", "a poem about the sea"],
            "image": pa.array([None if b is None else {"bytes": b, "path": None} for b in images], C.IMAGE_TYPE),
        },
    )


def test_default_policy_keeps_and_tags(pairs: Path, tmp_path: Path) -> None:
    result = run_inputs([pairs], tmp_path / "out", STAGES, write_documents=False)
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert {key: row["route"] for key, row in rows.items()} == dict.fromkeys(EXPECTED, "kept")
    assert {key: row["synthetic_signals"] for key, row in rows.items()} == EXPECTED
    assert rows["marked"]["synthetic_evidence"][0].startswith("watermark: stable-diffusion-v1 (")
    # found only with the JPEG decoder's chroma upsampling undone: the runner hands stages the JPEG as decoded
    assert rows["marked-jpeg"]["synthetic_evidence"][0].endswith("BGR order, JPEG chroma restored)")


def test_reject_rule(pairs: Path, tmp_path: Path) -> None:
    rule = 'policy.rules=[{when: "synthetic_signals not_empty", reason: "synthetic:{value}"}]'
    assert run_inputs([pairs], tmp_path / "out", STAGES, rule, write_documents=False).exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert {key: (row["route"], row["reject_reasons"]) for key, row in rows.items()} == {
        "a1111": ("rejected", ["synthetic:generation_parameters"]),
        "marked": ("rejected", ["synthetic:watermark"]),
        "marked-jpeg": ("rejected", ["synthetic:watermark"]),
        "caption": ("rejected", ["synthetic:caption"]),
        "photo": ("kept", []),
        "text-only": ("kept", []),
    }


def test_route_rule_sends_tagged_rows_to_quarantine(pairs: Path, tmp_path: Path) -> None:
    rule = 'policy.rules=[{when: "synthetic_signals contains watermark", action: quarantine}]'
    result = run_inputs([pairs], tmp_path / "out", STAGES, rule, write_documents=False)
    assert result.exit_code == 0
    assert result.manifest["rows_quarantined"] == 2
    rows = rows_by_id(tmp_path / "out")
    assert rows["marked"]["route"] == "quarantined"
    assert rows["marked"]["reject_reasons"] == ["synthetic_signals:watermark"]
    assert (tmp_path / "out" / "quarantined" / "part-00000.parquet").exists()
    kept = sorted(key for key, row in rows.items() if row["route"] == "kept")
    assert kept == ["a1111", "caption", "photo", "text-only"]


def test_default_config_runs_the_stage_after_the_taggers_and_before_dedup() -> None:
    names = [stage.name for stage in load_config(None).stages]
    assert "provenance.synthetic" in names
    assert names.index("provenance.synthetic") > names.index("blocklist")
    assert names[-1] == "dedup"


def test_datasheet_counts_signals_but_not_free_text_evidence(pairs: Path, tmp_path: Path) -> None:
    from datahygiene.reports.datasheet import build_datasheet

    assert run_inputs([pairs], tmp_path / "out", STAGES, write_documents=False).exit_code == 0
    tags = {t.column: t for t in build_datasheet(tmp_path / "out").tags}
    assert tags["synthetic_signals"].rows_kept == 4
    assert set(tags["synthetic_signals"].values) == {"generation_parameters", "watermark", "caption"}
    assert tags["synthetic_evidence"].rows_kept == 4
    assert tags["synthetic_evidence"].values == {}  # one unique line per row: counted, not listed
