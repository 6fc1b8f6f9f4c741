"""The documents say what ran and what the data is: fallback models named, no empty image plots on text, no
guessed task. (No promise about data nobody kept: ``test_cli.py``; C2PA manifests counted and signals a
duplicate kept to itself: ``tests/stages/dedup/test_keep_rights.py``.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core.config import parse_config
from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageContext, StageParams
from datahygiene.engine.run import run
from datahygiene.reports.datasheet import write_datasheet
from datahygiene.stages.fallback import build_fallback, describe_fallback
from tests.reports.datasheet import planted


class NeedsWeightsParams(StageParams):
    """Where the fallback goes."""

    fallback: str | None = "testing.planted"


@register("testing.needs_weights")
class NeedsWeights(StageBase[NeedsWeightsParams]):
    """A model stage whose weights never resolve: it runs its fallback, as toxicity.detoxify does offline."""

    Params: ClassVar[type[StageParams]] = NeedsWeightsParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.fallback = build_fallback(self.name, "Planted v2", self.params.fallback, context)

    def output_schema(self) -> pa.Schema:
        return self.fallback.output_schema()

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        return self.fallback.process(batch)

    def describe(self) -> dict[str, Any]:
        return describe_fallback(self, "Planted v2", self.fallback)


class ImageScoreParams(StageParams):
    """No parameters."""


@register("testing.image_score")
class ImageScore(StageBase[ImageScoreParams]):
    """An image score: null on every row without an image (as nsfw is on text)."""

    Params: ClassVar[type[StageParams]] = ImageScoreParams

    def output_schema(self) -> pa.Schema:
        return pa.schema([pa.field("image_score", pa.float32())])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        return {"image_score": pa.nulls(batch.num_rows, pa.float32())}


def _run(tmp_path: Path, stages: list[dict[str, Any]], texts: list[str]) -> Path:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(len(texts))], "text": texts}), source)
    config = parse_config({"stages": stages, "policy": {"rules": planted.POLICY[:1]}})
    output = tmp_path / "out"
    assert run(config, [str(source)], output).exit_code == 0
    write_datasheet(output)
    return output


def test_the_model_that_ran_is_named_and_the_fallback_said_plainly(tmp_path: Path) -> None:
    output = _run(tmp_path, [{"name": "testing.needs_weights"}], ["fine", "[toxic] not fine"])
    for name in ("datasheet.md", "README.md"):
        document = (output / name).read_text()
        row = next(line for line in document.splitlines() if line.startswith("| testing.needs_weights |"))
        assert "| planted-markers | /models/planted.bin | " + "ab" * 32 in row
        assert "fallback: Planted v2 weights not found; testing.planted ran instead" in row
        assert "| none |" not in row
        assert "> **⚠ Fallback:** testing.needs_weights did not run its configured model" in document
    reasons = json.loads((output / "datasheet.json").read_text())["reason_sources"]
    assert reasons["toxicity>0.8"]["model"] == "planted-markers, fallback of testing.needs_weights"
    assert "Fallback: testing.needs_weights did not run" in (output / "datasheet.html").read_text()


def test_text_only_data_gets_no_empty_image_plots_or_tiles(tmp_path: Path) -> None:
    output = _run(
        tmp_path, [{"name": "testing.planted"}, {"name": "testing.image_score"}], ["a", "[toxic] b", "[toxic] c"]
    )
    sheet = json.loads((output / "datasheet.json").read_text())
    assert [h["column"] for h in sheet["histograms"]] == ["toxicity"]
    assert sheet["unscored"] == ["image_score"]
    assert "Not shown: `image_score` (no row has a value" in (output / "datasheet.md").read_text()
    html = (output / "datasheet.html").read_text()
    assert html.count('class="item"') == 2  # the two removed rows
    assert "no image" not in html
    assert "image not shown" not in html


def test_the_task_is_unknown_unless_someone_says(tmp_path: Path) -> None:
    output = _run(tmp_path, [{"name": "testing.planted"}], ["positive review", "negative review"])
    card = (output / "README.md").read_text()
    header = card.split("---")[1]
    assert "task_categories" not in header
    assert "text-generation" not in card
    assert "task categories: unknown" in card
