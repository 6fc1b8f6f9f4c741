"""Blocklist matching: evasion cases and no Scunthorpe false hits."""

from __future__ import annotations

import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.blocklist import BlocklistParams, BlocklistStage


@pytest.fixture(scope="module")
def stage() -> BlocklistStage:
    return BlocklistStage(BlocklistParams(), StageContext(offline=True))


@pytest.mark.parametrize("text", ["SHIT happens", "shít", "sh1t", "s h i t", "s.h.i.t", "what a $h!t day"])
def test_evasions_match(stage: BlocklistStage, text: str) -> None:
    hits, lists = stage.match(text)
    assert hits == ["shit"]
    assert lists == ["profanity"]


@pytest.mark.parametrize(
    "text", ["Scunthorpe United", "a classic assessment", "cocktail shitake? no: shiitake", "Dickens"]
)
def test_no_substring_false_hits(stage: BlocklistStage, text: str) -> None:
    assert stage.match(text) == ([], [])


def test_process_columns_and_nulls(stage: BlocklistStage, tmp_path: object) -> None:
    records = pa.RecordBatch.from_pydict(
        {"text": ["clean text", None, "free p0rn here"], "url": [None, "http://x.com/porno", None]}
    )
    out = stage.process(Batch(records=records))
    assert out["blocklist_hits"].to_pylist() == [[], ["porno"], ["porn"]]
    assert out["blocklist_lists"].to_pylist() == [[], ["sexual"], ["sexual"]]


def test_user_file(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "brands.txt"
    path.write_text("# user list\nacme corp\n", encoding="utf-8")
    custom = BlocklistStage(BlocklistParams(lists=[], files=[path]), StageContext())
    assert custom.match("Buy from A.C.M.E Corp today") == (["acme corp"], ["brands"])
    assert custom.match("acme") == ([], [])
