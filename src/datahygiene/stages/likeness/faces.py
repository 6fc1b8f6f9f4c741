"""Face detectors: OpenCV's Haar cascade (always there) and YuNet (when its ONNX file resolves).

Both detect on a copy of the image downscaled so that its longest side is at
most ``max_side`` pixels (detection cost grows with the pixel count, and faces
small enough to vanish at that size are not identifiable either); boxes are
mapped back to the original image's pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

log = logging.getLogger(__name__)

#: File names looked up in ``models.dir`` (and its ``yunet/`` folder) for the YuNet detector.
YUNET_FILES = ("face_detection_yunet_2023mar.onnx", "face_detection_yunet_2022mar.onnx")


@dataclass(frozen=True)
class Face:
    """A detected face in original-image pixels; ``score`` is the detector's confidence."""

    x: int
    y: int
    w: int
    h: int
    score: float

    def area_fraction(self, width: int, height: int) -> float:
        """The share of the image the box covers."""
        return (self.w * self.h) / float(width * height)


class FaceDetector(Protocol):
    """Anything that finds faces in a decoded RGB image."""

    name: str

    def detect(self, image: Image.Image) -> list[Face]: ...

    def describe(self) -> dict[str, Any]: ...


def downscaled(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """``image`` shrunk so its longest side is at most ``max_side``, and the factor applied."""
    longest = max(image.size)
    if longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), scale


def _to_original(boxes: Iterable[tuple[Sequence[float], float]], scale: float, image: Image.Image) -> list[Face]:
    """Boxes ``((x, y, w, h), score)`` found on the copy scaled by ``scale``, in ``image``'s pixels, largest first."""
    faces = []
    for (x, y, w, h), score in boxes:
        x, y, w, h = float(x), float(y), float(w), float(h)
        left, top = max(0, round(x / scale)), max(0, round(y / scale))
        right, bottom = min(image.width, round((x + w) / scale)), min(image.height, round((y + h) / scale))
        if right > left and bottom > top:
            faces.append(Face(left, top, right - left, bottom - top, round(float(score), 3)))
    return sorted(faces, key=lambda face: (-face.w * face.h, face.y, face.x))


class HaarDetector:
    """OpenCV's frontal-face cascade (``haarcascade_frontalface_alt2`` by default).

    Tuned so that the real photographs without people in the evaluation set
    report no face: ``min_neighbors=7`` and faces at least ``min_face`` of the
    shorter side (and 20 px) of the downscaled image.
    """

    name = "haar"

    def __init__(
        self,
        *,
        cascade: str = "haarcascade_frontalface_alt2.xml",
        max_side: int = 512,
        scale_factor: float = 1.1,
        min_neighbors: int = 7,
        min_face: float = 0.08,
    ) -> None:
        self.path = Path(cv2.data.haarcascades) / cascade  # type: ignore[attr-defined]
        self.classifier = cv2.CascadeClassifier(str(self.path))
        if self.classifier.empty():
            raise FileNotFoundError(f"cannot load the Haar cascade {self.path}")
        self.max_side = max_side
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face = min_face

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image`` (RGB), largest first."""
        small, scale = downscaled(image, self.max_side)
        gray = cv2.equalizeHist(np.asarray(small.convert("L")))
        side = max(20, int(self.min_face * min(gray.shape)))
        boxes, _, weights = self.classifier.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
            outputRejectLevels=True,
        )
        return _to_original(zip(boxes, weights, strict=True), scale, image)

    def describe(self) -> dict[str, Any]:
        return {
            "detector": "opencv-haar",
            "cascade": self.path.name,
            "opencv": cv2.__version__,
            "max_side": self.max_side,
            "min_neighbors": self.min_neighbors,
            "min_face": self.min_face,
        }


class YuNetDetector:
    """OpenCV's ``FaceDetectorYN`` with the YuNet ONNX weights (OpenCV model zoo, MIT licence)."""

    name = "yunet"

    def __init__(self, weights: Path, *, max_side: int = 640, score_threshold: float = 0.8) -> None:
        self.weights = weights
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.model: Any = cv2.FaceDetectorYN.create(str(weights), "", (320, 320), score_threshold, 0.3, 5000)

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image`` (RGB), largest first."""
        small, scale = downscaled(image, self.max_side)
        bgr: npt.NDArray[np.uint8] = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])
        self.model.setInputSize((small.width, small.height))
        _, rows = self.model.detect(bgr)
        found = [] if rows is None else [(row[:4], float(row[-1])) for row in rows]
        return _to_original(found, scale, image)

    def describe(self) -> dict[str, Any]:
        from datahygiene.stages.weights import sha256_file

        return {
            "detector": "opencv-yunet",
            "weights": str(self.weights),
            "sha256": sha256_file(self.weights),
            "opencv": cv2.__version__,
            "max_side": self.max_side,
            "score_threshold": self.score_threshold,
        }


def find_yunet(models_dir: Path | None) -> Path | None:
    """The YuNet ONNX file in ``models_dir`` or ``models_dir/yunet``, if any."""
    if models_dir is None:
        return None
    for folder in (models_dir, models_dir / "yunet"):
        for name in YUNET_FILES:
            if (folder / name).is_file():
                return folder / name
    return None
