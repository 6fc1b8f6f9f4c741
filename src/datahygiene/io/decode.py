"""Image bytes -> fully decoded PIL image, with every failure named.

``Image.verify()`` accepts truncated JPEGs, so images are decoded in full
(``load()``) before any stage sees them. Decompression bombs are refused
from the header, before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings

import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, UnidentifiedImageError

from datahygiene.core import columns as C
from datahygiene.core.config import RunConfig
from datahygiene.core.reasons import Reasons

# The budget is ours (InputLimits.max_image_pixels); Pillow's own global limit
# would otherwise warn or raise at a different, process-wide threshold.
Image.MAX_IMAGE_PIXELS = None


def decode_image(data: bytes, *, max_pixels: int, max_bytes: int) -> tuple[Image.Image | None, str | None]:
    """Decode ``data`` into an RGB image, or return the reason it cannot be used."""
    if len(data) == 0:
        return None, "image_empty"
    if len(data) > max_bytes:
        return None, "image_too_large"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            width, height = opened.size
            if width * height > max_pixels or width <= 0 or height <= 0:
                return None, "image_too_large"
            opened.load()
            image = opened if opened.mode == "RGB" else opened.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, "image_too_large"
    except UnidentifiedImageError:
        return None, "image_undecodable"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return None, "image_truncated" if "truncat" in str(error).lower() else "image_undecodable"
    except Exception:  # noqa: BLE001 - any decoder failure is a property of the input
        return None, "image_undecodable"
    return image, None


def decode_images(images: pa.Array, reasons: Reasons, *, max_pixels: int, max_bytes: int) -> list[Image.Image | None]:
    """Decode the ``bytes`` field of an image column; failures become reasons."""
    payloads = pc.struct_field(images, "bytes").to_pylist() if len(images) else []
    decoded: list[Image.Image | None] = []
    for row, data in enumerate(payloads):
        if data is None:
            decoded.append(None)
            continue
        image, reason = decode_image(data, max_pixels=max_pixels, max_bytes=max_bytes)
        if reason is not None:
            reasons.add_row(row, reason)
        decoded.append(image)
    return decoded


def has_images(records: pa.RecordBatch) -> bool:
    """Whether any row of the batch carries image bytes."""
    column = records.column(C.IMAGE)
    return bool(column.null_count < records.num_rows)


def decode_batch_images(
    records: pa.RecordBatch, reasons: Reasons, config: RunConfig
) -> list[Image.Image | None] | None:
    """Decode the batch's images (``None`` when it has none); failures become reasons."""
    if not has_images(records):
        return None
    return decode_images(
        records.column(C.IMAGE),
        reasons,
        max_pixels=config.limits.max_image_pixels,
        max_bytes=config.limits.max_image_bytes,
    )
