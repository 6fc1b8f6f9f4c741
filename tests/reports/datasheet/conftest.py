"""A real run (runner + planted stage) whose removals are known row by row."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from datahygiene.core.config import parse_config
from datahygiene.engine.run import run
from tests.reports.datasheet import planted

#: What the fixture plants, for the tests to check against.
EXPECTED = {
    "neutral": 100,  # rows mentioning no group; 5 toxic, 5 blocklisted
    "muslim": 40,  # 20 blocklisted: 10x the base rate
    "women": 40,  # 2 toxic: the base rate
    "near_dups": 3,
    "celebs": 2,
    "faces_kept": 4,  # two kept rows with 2 faces each
    "images": 4,  # image rows, all rejected as toxic
}


def checkerboard(size: int = 96, cell: int = 4) -> bytes:
    """A high-frequency JPEG, so blurring visibly lowers its contrast."""
    image = Image.new("L", (size, size))
    image.putdata([255 * (((x // cell) + (y // cell)) % 2) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def planted_texts() -> list[dict[str, str]]:
    """Rows whose markers decide each filter; group mentions vary in case and plural."""
    rows = []
    for i in range(100):
        marker = "[toxic]" if i < 5 else "[block]" if i < 10 else ""
        rows.append({"id": f"n{i}", "text": f"A note about the weather, number {i} {marker} menu"})
    muslim = ("Muslim", "muslims", "MUSLIM")
    for i in range(40):
        marker = "[block]" if i % 2 == 0 else ""
        rows.append({"id": f"m{i}", "text": f"{muslim[i % 3]} neighbours, story {i} {marker}"})
    for i in range(40):
        marker = "[toxic]" if i < 2 else "[face]" if i < 4 else ""
        rows.append({"id": f"w{i}", "text": f"Women at work, story {i} {marker}"})
    rows += [{"id": f"d{i}", "text": f"Repeated weather report {i} [near]"} for i in range(EXPECTED["near_dups"])]
    rows += [{"id": f"c{i}", "text": f"Portrait of a film star {i} [celeb]"} for i in range(EXPECTED["celebs"])]
    return rows


@pytest.fixture(scope="session")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the real pipeline with the planted stage and policy; returns the output directory."""
    root = tmp_path_factory.mktemp("planted")
    texts = root / "texts.jsonl"
    texts.write_text("".join(json.dumps(row) + "\n" for row in planted_texts()))
    image = checkerboard()
    pairs = pa.table(
        {
            "id": [f"img{i}" for i in range(EXPECTED["images"])],
            "caption": [f"[toxic] picture {i}" for i in range(EXPECTED["images"])],
            "image": pa.array([image] * EXPECTED["images"], pa.binary()),
        }
    )
    pq.write_table(pairs, root / "pairs.parquet")
    config = parse_config(
        {"stages": [{"name": "text.stats"}, {"name": "testing.planted"}], "policy": {"rules": planted.POLICY}}
    )
    output = root / "out"
    result = run(config, [str(texts), str(root / "pairs.parquet")], output)
    assert result.exit_code == 0, result.failed_shards
    return output
