"""The likeness stage: columns for every row, signals and evidence, blurring into the batch artifacts."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from datahygiene.core import columns as C
from datahygiene.core.stage import IMAGE_REPLACEMENTS, Batch, StageContext
from datahygiene.stages.likeness.blur import blur_faces, encode_like, image_format
from datahygiene.stages.likeness.faces import Face
from datahygiene.stages.likeness.stage import LikenessParams, LikenessStage
from tests.stages.likeness.conftest import encode, scene


class _Fixed:
    """A face detector that reports one box on every image wider than 100 px."""

    name = "fixed"

    def detect(self, image: Image.Image) -> list[Face]:
        return [Face(10, 20, 40, 50, 0.9)] if image.width > 100 else []

    def describe(self) -> dict[str, Any]:
        return {"detector": "fixed"}


def _stage(**params: Any) -> LikenessStage:
    stage = LikenessStage(LikenessParams(**params), StageContext(offline=True))
    stage.detector = _Fixed()
    return stage


def _batch(rows: list[tuple[Image.Image | None, str | None]], fmt: str = "PNG") -> Batch:
    payloads = [None if image is None else encode(image, fmt) for image, _ in rows]
    records = pa.RecordBatch.from_pydict(
        {
            "id": [str(i) for i in range(len(rows))],
            "text": [text for _, text in rows],
            "image": pa.array([{"bytes": b, "path": None} for b in payloads], C.IMAGE_TYPE),
        }
    )
    return Batch(records=records, images=[image for image, _ in rows])


BIG, SMALL = Image.new("RGB", (200, 100), "white"), Image.new("RGB", (50, 50), "white")


def test_signals_and_evidence_for_every_row() -> None:
    batch = _batch(
        [
            (BIG, "Taylor Swift on stage"),  # face + name
            (BIG, "a quiet lake"),  # face only
            (SMALL, "John Smith's house"),  # name only
            (SMALL, "a quiet lake"),  # nothing
            (None, "Mary Johnson at home"),  # no image, name
            (None, None),  # nothing at all
        ]
    )
    out = _stage().process(batch)
    assert out["faces"].to_pylist() == [1, 1, 0, 0, None, None]
    assert out["face_area"].to_pylist() == [pytest.approx(0.1), pytest.approx(0.1), 0.0, 0.0, None, None]
    assert out["likeness_signals"].to_pylist() == [
        ["face", "person_name", "identifiable_person"],
        ["face"],
        ["person_name"],
        [],
        ["person_name"],
        [],
    ]
    evidence = out["likeness_evidence"].to_pylist()
    assert evidence[0] == [
        "face box=10,20,40,50 area=0.1000 score=0.9",
        "person_name: Taylor Swift",
        "identifiable_person: 1 face(s) with name 'Taylor Swift'",
    ]
    assert evidence[2] == ["person_name: John Smith"]
    assert evidence[3] == []
    assert evidence[5] == []
    assert out["faces_blurred"].to_pylist() == [False, False, False, False, None, None]
    assert IMAGE_REPLACEMENTS not in batch.artifacts


def test_blur_only_rows_with_the_configured_signal() -> None:
    batch = _batch([(BIG, "Taylor Swift on stage"), (BIG, "a quiet lake"), (SMALL, "John Smith")])
    out = _stage(blur=["identifiable_person"]).process(batch)
    assert out["faces_blurred"].to_pylist() == [True, False, False]
    assert set(batch.artifacts[IMAGE_REPLACEMENTS]) == {0}
    batch = _batch([(BIG, "Taylor Swift on stage"), (BIG, "a quiet lake"), (SMALL, "John Smith")])
    out = _stage(blur=["face"]).process(batch)
    assert out["faces_blurred"].to_pylist() == [True, True, False]
    assert set(batch.artifacts[IMAGE_REPLACEMENTS]) == {0, 1}


def test_switches_and_schema() -> None:
    stage = LikenessStage(LikenessParams(faces=False, names=False), StageContext())
    out = stage.process(_batch([(BIG, "Taylor Swift")]))
    assert out["faces"].to_pylist() == [None]
    assert out["likeness_signals"].to_pylist() == [[]]
    assert stage.describe()["model"] is None
    assert [f.name for f in stage.output_schema()] == list(out)
    real = LikenessStage(LikenessParams(), StageContext())
    assert real.describe()["faces"]["detector"] == "retinaface-mobilenet0.25"


def test_real_detector_on_a_composed_scene() -> None:
    image = scene()
    out = LikenessStage(LikenessParams(), StageContext()).process(_batch([(image, "Portrait of Eileen Collins")]))
    assert out["faces"].to_pylist() == [1]
    assert out["likeness_signals"].to_pylist() == [["face", "person_name", "identifiable_person"]]


def _pixels(data: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_blur_changes_the_face_box_only(fmt: str) -> None:
    image = scene()  # face pasted at (220, 120), 200 px
    batch = _batch([(image, "Portrait of Eileen Collins")], fmt)
    stage = LikenessStage(LikenessParams(blur=["face"], blur_margin=0.0), StageContext())
    out = stage.process(batch)
    (face,) = stage.detect(image) or []
    blurred = batch.artifacts[IMAGE_REPLACEMENTS][0]
    assert image_format(blurred) == fmt
    assert out["faces_blurred"].to_pylist() == [True]
    original = _pixels(encode(image, fmt))
    after = _pixels(blurred)
    inside = (slice(face.y, face.y + face.h), slice(face.x, face.x + face.w))
    outside = np.ones(original.shape[:2], dtype=bool)
    outside[face.y - 8 : face.y + face.h + 8, face.x - 8 : face.x + face.w + 8] = False
    assert np.abs(after[inside] - original[inside]).mean() > 4
    tolerance = 0 if fmt == "PNG" else 3  # JPEG re-encoding moves pixels slightly everywhere
    assert np.abs(after - original)[outside].mean() <= tolerance
    if fmt == "PNG":
        assert (after[outside] == original[outside]).all()
    assert LikenessStage(LikenessParams(), StageContext()).detect(Image.open(io.BytesIO(blurred))) == []


def test_blur_helpers() -> None:
    image = Image.new("RGB", (64, 64), "red")
    assert blur_faces(image, [Face(60, 60, 30, 30, 1.0)]).size == (64, 64)  # box clipped to the image
    assert image_format(encode(image, "JPEG")) == "JPEG"
    assert image_format(encode(image, "WEBP")) == "WEBP"
    assert image_format(b"GIF89a") == "PNG"
    assert image_format(encode_like(image, encode(image, "WEBP"))) == "WEBP"
