"""The tile pass: even tiles with enough overlap, and skipping flat regions never drops a face."""

from __future__ import annotations

import math
import random
from functools import cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from datahygiene.stages.likeness.tiles import Scales, tile_regions, tile_spans
from tests.stages.likeness.conftest import face_image

#: Width of the face box in the 160 px test crop, and the box as RetinaFace finds it (left, top, right, bottom).
FACE_IN_CROP = 74
FACE_BOX = (43, 34, 118, 131)
#: The default tile scale for 20 px faces.
SCALE = 1.25


def test_tile_spans_are_few_even_and_overlapping() -> None:
    assert tile_spans(500, 1024, 176) == [(0, 500)]
    for length, tile, overlap in [(3200, 1024, 176), (2400, 1024, 176), (2561, 640, 96), (1025, 1024, 300)]:
        spans = tile_spans(length, tile, overlap)
        assert spans[0][0] == 0
        assert spans[-1][1] == length
        assert all(stop - start <= tile for start, stop in spans)
        assert all(a_stop - b_start >= overlap for (_, a_stop), (b_start, _) in pairwise(spans))
        # one tile fewer could not cover the length with that overlap
        assert (len(spans) - 1) * tile - (len(spans) - 2) * overlap < length


@cache
def flat_scene(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A smooth gradient with faint noise (a sky, a wall): nothing for the network to look at."""
    rnd = np.random.default_rng(0)
    ramp = np.linspace(90, 170, width, dtype=np.float32)[None, :] + np.linspace(0, 30, height)[:, None]
    grey = ramp + rnd.normal(0, 1.0, (height, width))
    return np.clip(np.repeat(grey[:, :, None], 3, axis=2), 0, 255).astype(np.uint8)


def test_flat_images_get_no_tiles() -> None:
    pixels = flat_scene(2000, 1500)
    assert Scales().tiles(2000, 1500) == SCALE
    assert tile_regions(pixels, Scales(), SCALE) == []
    assert len(tile_regions(pixels, Scales(flat=0), SCALE)) == 3 * 2  # 2500 x 1875 in tiles of at most 1024


@pytest.mark.parametrize(("face", "contrast"), [(16, 1.0), (20, 1.0), (20, 0.25), (32, 1.0), (64, 1.0), (100, 1.0)])
def test_a_face_on_a_flat_background_is_always_inside_a_tile(face: int, contrast: float) -> None:
    """Wherever the real test face lies (edges and tile seams included), some kept region holds all of it; also
    when the face is dim (its grey levels squeezed to a quarter of their range, as in a dark shot)."""
    scales = Scales()
    crop = face_image().point(lambda level: round(60 + (level - 60) * contrast))
    side = round(crop.width * face / FACE_IN_CROP)
    rnd = random.Random(face)
    for seed in range(8):
        image = Image.fromarray(flat_scene(2000, 1500))
        x, y = rnd.randrange(0, 2000 - side), rnd.randrange(0, 1500 - side)
        if seed < 2:  # pinned to a corner, then astride the first vertical seam
            x, y = (0, 0) if seed == 0 else (round(870 / SCALE) - side // 2, 1500 - side)
        image.paste(crop.resize((side, side), Image.Resampling.LANCZOS), (x, y))
        regions = tile_regions(np.asarray(image), scales, SCALE)
        assert 1 <= len(regions) <= 4, regions  # of 12 tiles
        # the face box at the tile scale
        zoom = side / crop.width
        left, top = (math.floor((at + edge * zoom) * SCALE) for at, edge in zip((x, y), FACE_BOX[:2], strict=True))
        right, bottom = (math.ceil((at + edge * zoom) * SCALE) for at, edge in zip((x, y), FACE_BOX[2:], strict=True))
        holds = [rl <= left and rt <= top and right <= rr and bottom <= rb for rl, rt, rr, rb in regions]
        assert any(holds), (face, x, y, regions)


def test_textured_regions_are_kept_whole() -> None:
    rnd = np.random.default_rng(1)
    pixels = rnd.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    assert tile_regions(pixels, Scales(), SCALE) == tile_regions(pixels, Scales(flat=0), SCALE)
