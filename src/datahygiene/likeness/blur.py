"""Blur detected faces and re-encode the image in its original format."""

from __future__ import annotations

import io
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from datahygiene.likeness.faces import Face


def _box(face: Face, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The face box grown by ``margin`` of its size on every side, clipped to the image."""
    dx, dy = round(face.w * margin), round(face.h * margin)
    return max(0, face.x - dx), max(0, face.y - dy), min(width, face.x + face.w + dx), min(height, face.y + face.h + dy)


def blur_faces(image: Image.Image, faces: Sequence[Face], *, margin: float = 0.15) -> Image.Image:
    """A copy of ``image`` with every face box pixelated (8 blocks across) and smoothed.

    Pixelating first removes the detail a plain blur leaves recoverable; the
    Gaussian pass then hides the block edges. Pixels outside the boxes are unchanged.
    """
    pixels = np.array(image.convert("RGB"))
    height, width = pixels.shape[:2]
    for face in faces:
        left, top, right, bottom = _box(face, margin, width, height)
        region = pixels[top:bottom, left:right]
        w, h = right - left, bottom - top
        if w < 2 or h < 2:
            continue
        blocks = (max(1, min(8, w)), max(1, min(8, round(8 * h / w), h)))
        coarse = cv2.resize(region, blocks, interpolation=cv2.INTER_AREA)
        mosaic = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST)
        kernel = max(3, (min(w, h) // 8) | 1)
        pixels[top:bottom, left:right] = cv2.GaussianBlur(mosaic, (kernel, kernel), 0)
    return Image.fromarray(pixels)


def image_format(data: bytes) -> str:
    """``JPEG``, ``WEBP`` or ``PNG`` (for anything else) from the encoded bytes' signature."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return "PNG"


def encode_like(image: Image.Image, original: bytes) -> bytes:
    """``image`` encoded in the format of ``original`` (JPEG and WebP at quality 95; PNG otherwise)."""
    fmt = image_format(original)
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, format="PNG")
    else:
        image.save(out, format=fmt, quality=95)
    return out.getvalue()
