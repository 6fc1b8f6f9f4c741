"""Multi-scale, tiled face detection for CNN detectors that work on an image at its own scale.

A CNN face detector finds faces down to a fixed size in pixels at the scale it is given. One pass over a copy
of the whole image downscaled to ``max_side`` finds the faces that are large in the picture; small faces
(background people, crowds, thumbnails) vanish at that size, so a second pass runs the network on overlapping
tiles of the image at a scale where a face of ``min_face`` original pixels is ``net_face`` pixels. Boxes from
both passes are merged by non-maximum suppression, in original-image pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

#: ``(x, y, w, h, score)`` in the pixels of the array the network saw.
Box = tuple[float, float, float, float, float]
#: A network: an RGB ``uint8`` array in, boxes out.
Net = Callable[[npt.NDArray[np.uint8]], list[Box]]


@dataclass(frozen=True)
class Scales:
    """How an image is searched: the whole-image pass, and the tiles for small faces."""

    max_side: int = 640  # longest side of the whole-image copy
    min_face: int = 20  # smallest face (original pixels) the tiles look for
    net_face: int = 32  # face side the network finds reliably
    max_scale: float = 1.6  # never enlarge the image more than this for the tiles
    tile: int = 640  # tile side at the tile scale

    def whole(self, width: int, height: int) -> float:
        """Scale of the whole-image pass (at most 1)."""
        return min(1.0, self.max_side / max(width, height))

    def tiles(self, width: int, height: int) -> float | None:
        """Scale of the tile pass, or ``None`` when the whole-image pass already sees faces of ``min_face``."""
        scale = min(self.max_scale, self.net_face / self.min_face)
        return scale if scale > self.whole(width, height) * 1.01 else None


def resized(pixels: npt.NDArray[np.uint8], scale: float) -> npt.NDArray[np.uint8]:
    """``pixels`` scaled by ``scale`` (area averaging down, bilinear up)."""
    if scale == 1.0:
        return pixels
    height, width = pixels.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(pixels, size, interpolation=interpolation), dtype=np.uint8)


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` pixels shared."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def nms(boxes: Sequence[Box], overlap: float = 0.3) -> list[Box]:
    """Greedy non-maximum suppression by score; a box also goes when it lies mostly inside a kept one."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        x, y, w, h, _ = box
        for kx, ky, kw, kh, _ in kept:
            iw = max(0.0, min(x + w, kx + kw) - max(x, kx))
            ih = max(0.0, min(y + h, ky + kh) - max(y, ky))
            inter = iw * ih
            if inter > overlap * (w * h + kw * kh - inter) or inter > 0.7 * min(w * h, kw * kh):
                break
        else:
            kept.append(box)
    return kept


def detect_scaled(net: Net, pixels: npt.NDArray[np.uint8], scales: Scales) -> list[Box]:
    """Faces in ``pixels`` (RGB) in its own pixels: the whole-image pass plus, when needed, the tile pass."""
    height, width = pixels.shape[:2]
    whole = scales.whole(width, height)
    found = [(x / whole, y / whole, w / whole, h / whole, s) for x, y, w, h, s in net(resized(pixels, whole))]
    tile_scale = scales.tiles(width, height)
    if tile_scale is not None:
        big = resized(pixels, tile_scale)
        # faces smaller than what the whole-image pass sees must fit whole in some tile
        overlap = min(scales.tile // 2, math.ceil(scales.net_face * tile_scale / whole) + 16)
        for top in tile_origins(big.shape[0], scales.tile, overlap):
            for left in tile_origins(big.shape[1], scales.tile, overlap):
                crop = np.ascontiguousarray(big[top : top + scales.tile, left : left + scales.tile])
                for x, y, w, h, s in net(crop):
                    found.append(((x + left) / tile_scale, (y + top) / tile_scale, w / tile_scale, h / tile_scale, s))
    return nms(found)
