"""Multi-scale, tiled face detection for CNN detectors that work on an image at its own scale.

A CNN face detector finds faces down to a fixed size in pixels at the scale it is given. One pass over a copy
of the whole image downscaled to ``max_side`` finds the faces that are large in the picture; small faces
(background people, crowds, thumbnails) vanish at that size, so a second pass runs the network on tiles of the
image at a scale where a face of ``min_face`` original pixels is ``net_face`` pixels. Tiles are few and large
(at most ``tile`` pixels a side, split evenly) and overlap only by the largest face the whole-image pass does
not already see, so that every such face lies whole in some tile. Before the network runs, each tile is cut
down to the part of it that has texture: a face has eyes, brows and a mouth, so the grey level of a face-sized
window over it varies; regions where no such window varies by ``flat`` grey levels (sky, walls, blurred
backgrounds) are skipped, measured on a small grey copy. Boxes from both passes are merged by non-maximum
suppression, in original-image pixels.
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
#: ``(left, top, right, bottom)`` in pixels.
Region = tuple[int, int, int, int]
#: The texture map is measured on a grey copy where a face of ``min_face`` is this many pixels.
TEXTURE_FACE = 8
#: Tile crops are rounded out to multiples of this (the network's coarsest stride).
STRIDE = 32


@dataclass(frozen=True)
class Scales:
    """How an image is searched: the whole-image pass, and the tiles for small faces."""

    max_side: int = 640  # longest side of the whole-image copy
    min_face: int = 20  # smallest face (original pixels) the tiles look for
    net_face: int = 25  # face side the network proposes reliably (at a low score, confirmed afterwards)
    max_scale: float = 1.6  # never enlarge the image more than this for the tiles
    tile: int = 1024  # longest tile side at the tile scale
    flat: float = 4.0  # skip regions whose face-sized windows vary less than this (grey std); 0: never

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


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the fewest equal tiles of at most ``tile`` pixels that cover ``length`` with at least
    ``overlap`` pixels shared by neighbours."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    step = (length - size) / (count - 1)
    return [(round(i * step), round(i * step) + size) for i in range(count)]


def texture(pixels: npt.NDArray[np.uint8], scale: float) -> npt.NDArray[np.float32]:
    """Standard deviation of the grey level over a ``TEXTURE_FACE``-pixel window, on a copy scaled by ``scale``."""
    grey = cv2.cvtColor(resized(pixels, scale), cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = (TEXTURE_FACE, TEXTURE_FACE)
    mean = cv2.boxFilter(grey, -1, window, borderType=cv2.BORDER_REPLICATE)
    square = cv2.boxFilter(grey * grey, -1, window, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(np.maximum(square - mean * mean, 0.0))


def textured_part(active: npt.NDArray[np.bool_], region: Region, scale: float, pad: int) -> Region | None:
    """The part of ``region`` (pixels at the tile scale) around its textured pixels, grown by ``pad`` and rounded
    out to ``STRIDE``; ``None`` when it has none. ``active`` is the texture mask on a copy ``scale`` times smaller."""
    left, top, right, bottom = region
    window = active[int(top / scale) : math.ceil(bottom / scale), int(left / scale) : math.ceil(right / scale)]
    rows, cols = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    if rows.size == 0:
        return None
    x0 = left + STRIDE * ((int(cols[0] * scale) - pad) // STRIDE)
    y0 = top + STRIDE * ((int(rows[0] * scale) - pad) // STRIDE)
    x1 = left + STRIDE * math.ceil((math.ceil((cols[-1] + 1) * scale) + pad) / STRIDE)
    y1 = top + STRIDE * math.ceil((math.ceil((rows[-1] + 1) * scale) + pad) / STRIDE)
    return max(left, x0), max(top, y0), min(right, x1), min(bottom, y1)


def tile_regions(pixels: npt.NDArray[np.uint8], scales: Scales, tile_scale: float) -> list[Region]:
    """The parts of ``pixels`` scaled by ``tile_scale`` (pixels at that scale) the tile pass runs the network on."""
    height, width = (max(1, round(side * tile_scale)) for side in pixels.shape[:2])
    whole = scales.whole(pixels.shape[1], pixels.shape[0])
    # faces smaller than what the whole-image pass sees (boxes are up to 1.3 times as tall as wide) must fit
    # whole in some tile
    largest = math.ceil(1.3 * scales.net_face * tile_scale / whole) + 16
    overlap = min(scales.tile // 2, largest)
    regions = [
        (left, top, right, bottom)
        for top, bottom in tile_spans(height, scales.tile, overlap)
        for left, right in tile_spans(width, scales.tile, overlap)
    ]
    if scales.flat <= 0:
        return regions
    grey_scale = min(1.0, TEXTURE_FACE / scales.min_face)
    active = texture(pixels, grey_scale) >= scales.flat
    step = tile_scale / grey_scale  # tile-scale pixels per texture-map pixel
    parts = (textured_part(active, region, step, largest) for region in regions)
    return [part for part in parts if part is not None]


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
        for left, top, right, bottom in tile_regions(pixels, scales, tile_scale):
            for x, y, w, h, s in net(big[top:bottom, left:right]):
                found.append(((x + left) / tile_scale, (y + top) / tile_scale, w / tile_scale, h / tile_scale, s))
    return nms(found)
