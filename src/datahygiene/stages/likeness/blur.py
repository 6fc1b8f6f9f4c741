"""Blur detected faces and re-encode the image in its original format, keeping its rights metadata.

The blurred image keeps the original's EXIF, XMP, ICC profile, JPEG comment and
PNG text chunks (creator and copyright fields must not be stripped), minus
everything that can carry a picture of the unblurred face: the EXIF thumbnail
(IFD1) and maker notes (camera previews), and XMP thumbnails. IPTC (JPEG APP13)
and C2PA manifests are not carried over: both can embed a thumbnail, and a C2PA
manifest no longer matches the edited pixels. The row's ``copyright_evidence``
still records what they said.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

from datahygiene.stages.likeness.faces import Face


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


_MAKER_NOTE = 0x927C
_EXIF_IFD = 0x8769
_THUMBNAIL_TAGS = (0x0201, 0x0202)  # JPEGInterchangeFormat(Length): only valid in IFD1, dropped if misplaced
_XMP_THUMBNAILS = (
    re.compile(rb"<xmpGImg:image>.*?</xmpGImg:image>", re.DOTALL),
    re.compile(rb"""xmpGImg:image=(["']).*?\1""", re.DOTALL),
)


def _exif_without_previews(source: Image.Image) -> bytes | None:
    """The EXIF block re-serialised without IFD1 (thumbnail) and maker notes."""
    exif = source.getexif()
    if not exif:
        return None
    exif.get_ifd(_EXIF_IFD).pop(_MAKER_NOTE, None)
    for tag in _THUMBNAIL_TAGS:
        exif.pop(tag, None)
    return exif.tobytes()  # Pillow writes IFD0 and its sub-IFDs only, never IFD1


def _xmp_without_thumbnails(xmp: bytes | str) -> bytes:
    data = xmp.encode() if isinstance(xmp, str) else xmp
    for pattern in _XMP_THUMBNAILS:
        data = pattern.sub(b"", data)
    return data


def metadata_to_keep(original: bytes, fmt: str) -> dict[str, Any]:
    """Pillow save arguments that carry the original's metadata over (see the module docstring)."""
    try:
        source = Image.open(io.BytesIO(original))
        keep: dict[str, Any] = {}
        exif = _exif_without_previews(source)
        if exif:
            keep["exif"] = exif
        if source.info.get("icc_profile"):
            keep["icc_profile"] = source.info["icc_profile"]
        if fmt in ("JPEG", "WEBP") and source.info.get("xmp"):
            keep["xmp"] = _xmp_without_thumbnails(source.info["xmp"])
        if fmt == "JPEG" and source.info.get("comment"):
            keep["comment"] = source.info["comment"]
        if fmt == "PNG" and source.format == "PNG":
            texts = PngImagePlugin.PngInfo()
            for key, value in getattr(source, "text", {}).items():
                text = _xmp_without_thumbnails(value).decode() if key == "XML:com.adobe.xmp" else value
                texts.add_itxt(key, text)
            keep["pnginfo"] = texts
    except Exception:  # noqa: BLE001 - unreadable metadata is dropped, never fatal
        return {}
    return keep


def encode_like(image: Image.Image, original: bytes) -> bytes:
    """``image`` in the format of ``original`` (JPEG, WebP at quality 95; PNG otherwise), with its metadata."""
    fmt = image_format(original)
    out = io.BytesIO()
    keep = metadata_to_keep(original, fmt)
    if fmt == "PNG":
        image.save(out, format="PNG", **keep)
    else:
        image.save(out, format=fmt, quality=95, **keep)
    return out.getvalue()
