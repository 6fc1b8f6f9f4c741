"""Face detectors: the Haar cascade on a real face and on real photographs without people; YuNet plumbing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from datahygiene.core.stage import StageContext
from datahygiene.stages.likeness.faces import Face, HaarDetector, YuNetDetector, downscaled, find_yunet
from datahygiene.stages.likeness.stage import LikenessParams, make_detector
from tests.stages.likeness.conftest import face_image, scene, scene_photos


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


def test_cascade_loads_and_bad_name_fails() -> None:
    assert not HaarDetector().classifier.empty()
    with pytest.raises(FileNotFoundError):
        HaarDetector(cascade="no_such_cascade.xml")


def test_real_face_found(haar: HaarDetector) -> None:
    found = haar.detect(face_image())
    assert len(found) == 1
    assert 0.1 < found[0].area_fraction(160, 160) < 0.5


@pytest.mark.parametrize(("size", "face", "at"), [((640, 480), 200, (220, 120)), ((2048, 1536), 600, (900, 500))])
def test_boxes_in_original_pixels(haar: HaarDetector, size: tuple[int, int], face: int, at: tuple[int, int]) -> None:
    """A downscaled large image gives the box in the original image's coordinates."""
    (box,) = haar.detect(scene(size, face, at))
    centre = (box.x + box.w / 2, box.y + box.h / 2)
    assert abs(centre[0] - (at[0] + face / 2)) < face * 0.15
    assert abs(centre[1] - (at[1] + face / 2)) < face * 0.15
    assert face * 0.3 < box.w < face


def test_no_face_on_plain_scene(haar: HaarDetector) -> None:
    assert haar.detect(scene(face=0)) == []


def test_no_face_on_real_photographs_without_people(haar: HaarDetector) -> None:
    photos = scene_photos()
    assert len(photos) >= 10
    for path in photos:
        assert haar.detect(Image.open(path).convert("RGB")) == [], path.name


def test_downscale_bounds_longest_side() -> None:
    small, scale = downscaled(Image.new("RGB", (1000, 500)), 384)
    assert small.size == (384, 192)
    assert scale == pytest.approx(0.384)
    same, one = downscaled(Image.new("RGB", (300, 200)), 384)
    assert same.size == (300, 200)
    assert one == 1.0


class _FakeYuNet:
    """Stands in for cv2.FaceDetectorYN: one face in the middle of whatever size it is given."""

    def __init__(self) -> None:
        self.size = (0, 0)

    def setInputSize(self, size: tuple[int, int]) -> None:  # noqa: N802 - OpenCV's name
        self.size = size

    def detect(self, image: Any) -> tuple[int, Any]:
        width, height = self.size
        assert image.shape[:2] == (height, width)
        row = np.zeros(15, dtype=np.float32)
        row[:4] = (width / 4, height / 4, width / 2, height / 2)
        row[14] = 0.93
        return 1, row[None, :]


def test_yunet_used_when_weights_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_yunet(tmp_path) is None
    assert make_detector(LikenessParams(), StageContext(models_dir=tmp_path)).name == "retinaface"
    weights = tmp_path / "yunet" / "face_detection_yunet_2023mar.onnx"
    weights.parent.mkdir()
    weights.write_bytes(b"not really onnx")
    assert find_yunet(tmp_path) == weights
    created: list[str] = []

    def create(model: str, *args: Any) -> _FakeYuNet:
        created.append(model)
        return _FakeYuNet()

    monkeypatch.setattr(cv2.FaceDetectorYN, "create", create)
    detector = make_detector(LikenessParams(), StageContext(models_dir=tmp_path))
    assert isinstance(detector, YuNetDetector)
    assert created == [str(weights)]
    assert detector.describe()["detector"] == "opencv-yunet"
    assert detector.describe()["sha256"]
    assert detector.detect(Image.new("RGB", (1280, 960))) == [Face(320, 240, 640, 480, 0.93)]
    assert make_detector(LikenessParams(detector="haar"), StageContext(models_dir=tmp_path)).name == "haar"


def test_yunet_required_but_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="yunet"):
        make_detector(LikenessParams(detector="yunet"), StageContext(models_dir=tmp_path))


@pytest.mark.parametrize(
    "change",
    [
        lambda im: im.rotate(15, fillcolor=(128, 128, 128)),
        lambda im: ImageEnhance.Brightness(im).enhance(0.4),
        lambda im: im.convert("L").convert("RGB"),
        ImageOps.mirror,
    ],
    ids=["tilted-15", "dark", "grey", "mirrored"],
)
def test_face_found_after_common_changes(haar: HaarDetector, change: Callable[[Image.Image], Image.Image]) -> None:
    assert len(haar.detect(change(scene()))) == 1


def test_profile_like_rotation_not_found(haar: HaarDetector) -> None:
    """Haar is a frontal, upright detector: a face turned 90 degrees in the image plane is missed (documented)."""
    assert haar.detect(scene().rotate(90)) == []
