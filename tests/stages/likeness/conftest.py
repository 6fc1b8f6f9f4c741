"""Images for the likeness tests: the one real face (tests/stages/likeness/data/face.jpg) composed into scenes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import eval_data_dir

DATA = Path(__file__).parent / "data"


def face_image() -> Image.Image:
    """The 160x160 public-domain face crop."""
    return Image.open(DATA / "face.jpg").convert("RGB")


def scene(size: tuple[int, int] = (640, 480), face: int = 200, at: tuple[int, int] = (220, 120)) -> Image.Image:
    """A grey gradient background with the face pasted at ``at``, scaled to ``face`` pixels."""
    width, height = size
    background = Image.linear_gradient("L").resize(size).convert("RGB")
    if face:
        background.paste(face_image().resize((face, face)), at)
    assert background.size == (width, height)
    return background


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def scene_photos() -> list[Path]:
    """Real photographs without people from the shared evaluation data (decodable ones)."""
    root = eval_data_dir()
    if root is None:
        pytest.skip("shared eval-data absent")
    return [p for p in sorted((root / "near-dup-images").glob("*.jpg")) if "corrupt" not in p.name]
