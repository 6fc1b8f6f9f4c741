"""Image bytes -> decoded PIL image, with every failure named.

``Image.verify()`` accepts truncated JPEGs, so images are decoded (``load()``)
before any stage sees them. When no stage of the run needs full-resolution
pixels, a JPEG is decoded at reduced size (Pillow's ``draft``: the decoder
scales in the DCT domain, 1/2 to 1/8, but still reads every scan, so a
truncated file fails as before). Decompression bombs are refused from the
header, before any pixel is decoded. A batch's images are decoded on every
core (Pillow releases the GIL while decoding), in input order.
"""

from __future__ import annotations

import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial

import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, UnidentifiedImageError

from datahygiene.core import columns as C
from datahygiene.core.config import RunConfig
from datahygiene.core.reasons import Reasons

# The budget is ours (InputLimits.max_image_pixels); Pillow's own global limit
# would otherwise warn or raise at a different, process-wide threshold.
Image.MAX_IMAGE_PIXELS = None

#: Side asked of the JPEG decoder for a reduced decode (it picks the smallest DCT scale at least this big).
REDUCED_SIDE = 128
#: ``Image.info`` key set on a reduced decode: the side asked of ``draft`` (a stage may reuse such a picture).
REDUCED_MARK = "datahygiene.reduced_side"
#: Images decoded at once.
DECODE_THREADS = min(4, os.cpu_count() or 1)


@cache
def decode_pool(threads: int = DECODE_THREADS) -> ThreadPoolExecutor:
    """The long-lived pool that decodes and hashes images (threads keep their allocator heaps across batches)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="image-decode")


def decode_image(
    data: bytes, *, max_pixels: int, max_bytes: int, reduced: bool = False
) -> tuple[Image.Image | None, str | None]:
    """Decode ``data`` into an RGB image, or return the reason it cannot be used.

    ``reduced``: decode a JPEG at 1/2..1/8 scale in grey (``draft("L", (128, 128))``, as
    :func:`datahygiene.stages.dedup.phash.open_reduced` does) and keep the decoder's mode; other
    formats are decoded whole. The bytes are checked exactly as by a full decode.
    """
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
            if reduced:
                opened.draft("L", (REDUCED_SIDE, REDUCED_SIDE))
            opened.load()
            image = opened if reduced or opened.mode == "RGB" else opened.convert("RGB")
            if reduced:
                image.info[REDUCED_MARK] = REDUCED_SIDE
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, "image_too_large"
    except UnidentifiedImageError:
        return None, "image_undecodable"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return None, "image_truncated" if "truncat" in str(error).lower() else "image_undecodable"
    except Exception:  # noqa: BLE001 - any decoder failure is a property of the input
        return None, "image_undecodable"
    return image, None


def decode_images(
    images: pa.Array, reasons: Reasons, *, max_pixels: int, max_bytes: int, reduced: bool = False
) -> list[Image.Image | None]:
    """Decode the ``bytes`` field of an image column on every core, in order; failures become reasons."""
    payloads: list[bytes | None] = pc.struct_field(images, "bytes").to_pylist() if len(images) else []
    decode = partial(_decode_or_none, max_pixels=max_pixels, max_bytes=max_bytes, reduced=reduced)
    results = list(decode_pool().map(decode, payloads)) if len(payloads) > 1 else [decode(p) for p in payloads]
    decoded: list[Image.Image | None] = []
    for row, (image, reason) in enumerate(results):
        if reason is not None:
            reasons.add_row(row, reason)
        decoded.append(image)
    return decoded


def _decode_or_none(
    data: bytes | None, *, max_pixels: int, max_bytes: int, reduced: bool
) -> tuple[Image.Image | None, str | None]:
    if data is None:
        return None, None
    return decode_image(data, max_pixels=max_pixels, max_bytes=max_bytes, reduced=reduced)


def has_images(records: pa.RecordBatch) -> bool:
    """Whether any row of the batch carries image bytes."""
    column = records.column(C.IMAGE)
    return bool(column.null_count < records.num_rows)


def decode_batch_images(
    records: pa.RecordBatch, reasons: Reasons, config: RunConfig, *, reduced: bool | None = None
) -> list[Image.Image | None] | None:
    """Decode the batch's images (``None`` when it has none); failures become reasons.

    ``reduced`` defaults to whether no configured stage needs full-resolution pixels.
    """
    if not has_images(records):
        return None
    if reduced is None:
        reduced = not config.needs_full_images()
    return decode_images(
        records.column(C.IMAGE),
        reasons,
        max_pixels=config.limits.max_image_pixels,
        max_bytes=config.limits.max_image_bytes,
        reduced=reduced,
    )
