"""Blurred images keep the original's rights metadata but nothing that can show the unblurred face."""

from __future__ import annotations

import io
import struct

from PIL import Image, PngImagePlugin

from datahygiene.stages.likeness.blur import encode_like

COPYRIGHT, ARTIST, MAKER_NOTE, EXIF_IFD = 0x8298, 0x013B, 0x927C, 0x8769
THUMBNAIL = b"\xff\xd8\xff\xdbTHUMBNAIL-OF-THE-FACE\xff\xd9"


def _exif_with_thumbnail() -> bytes:
    """A little-endian EXIF block: IFD0 with Copyright, then IFD1 pointing at a JPEG thumbnail."""
    text = b"(c) 2024 Jane Doe\x00"
    ifd0_at, entries0 = 8, 1
    ifd1_at = ifd0_at + 2 + 12 * entries0 + 4
    entries1 = 2
    text_at = ifd1_at + 2 + 12 * entries1 + 4
    thumb_at = text_at + len(text)
    tiff = b"II*\x00" + struct.pack("<I", ifd0_at)
    tiff += struct.pack("<H", entries0) + struct.pack("<HHII", COPYRIGHT, 2, len(text), text_at)
    tiff += struct.pack("<I", ifd1_at)
    tiff += struct.pack("<H", entries1)
    tiff += struct.pack("<HHII", 0x0201, 4, 1, thumb_at) + struct.pack("<HHII", 0x0202, 4, 1, len(THUMBNAIL))
    tiff += struct.pack("<I", 0) + text + THUMBNAIL
    return b"Exif\x00\x00" + tiff


def test_jpeg_keeps_rights_fields_drops_thumbnail_and_maker_note() -> None:
    image = Image.new("RGB", (64, 48), "red")
    out = io.BytesIO()
    xmp = b"<x:xmpmeta>dc:rights</x:xmpmeta>"
    image.save(out, "JPEG", exif=_exif_with_thumbnail(), comment=b"shot by Jane", xmp=xmp)
    original = out.getvalue()
    assert THUMBNAIL in original
    blurred = encode_like(image, original)
    reopened = Image.open(io.BytesIO(blurred))
    assert reopened.getexif()[COPYRIGHT] == "(c) 2024 Jane Doe"
    assert reopened.info["comment"] == b"shot by Jane"
    assert b"dc:rights" in reopened.info["xmp"]
    assert THUMBNAIL not in blurred


def test_maker_note_and_xmp_thumbnail_removed() -> None:
    image = Image.new("RGB", (64, 48), "blue")
    exif = Image.Exif()
    exif[ARTIST] = "Jane Doe"
    exif.get_ifd(EXIF_IFD)[MAKER_NOTE] = b"CAMERA-PREVIEW-OF-THE-FACE"
    xmp = b"<x:xmpmeta><xmpGImg:image>BASE64FACE</xmpGImg:image><dc:rights>CC</dc:rights></x:xmpmeta>"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), xmp=xmp)
    assert b"CAMERA-PREVIEW" in out.getvalue()
    blurred = encode_like(image, out.getvalue())
    assert b"CAMERA-PREVIEW" not in blurred
    assert b"BASE64FACE" not in blurred
    reopened = Image.open(io.BytesIO(blurred))
    assert reopened.getexif()[ARTIST] == "Jane Doe"
    assert b"<dc:rights>CC</dc:rights>" in reopened.info["xmp"]


def test_png_keeps_text_chunks() -> None:
    image = Image.new("RGB", (32, 32), "green")
    info = PngImagePlugin.PngInfo()
    info.add_text("Copyright", "Jane Doe 2024")
    info.add_itxt("Author", "Jane Doe")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    reopened = Image.open(io.BytesIO(encode_like(image, out.getvalue())))
    assert isinstance(reopened, PngImagePlugin.PngImageFile)
    assert reopened.text == {"Copyright": "Jane Doe 2024", "Author": "Jane Doe"}


def test_unreadable_original_metadata_is_dropped_not_fatal() -> None:
    image = Image.new("RGB", (8, 8))
    assert Image.open(io.BytesIO(encode_like(image, b"\xff\xd8\xffnot really a jpeg"))).format == "JPEG"
