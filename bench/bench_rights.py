"""Speed of ``rights.copyright``: rows/s on text-only rows, on images with embedded metadata and on C2PA-signed
images; the metadata reader alone against a full pixel decode of the same images.

All inputs are built in code (captions, licences, URLs; JPEG/PNG with EXIF, XMP, IPTC, PNG text; C2PA manifests
signed offline). Median of ``--repeats`` runs, one process, one thread.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import timeit
from collections.abc import Callable

import pyarrow as pa
from PIL import Image

from datahygiene.core.columns import IMAGE_TYPE
from datahygiene.core.stage import Batch, StageContext
from datahygiene.io.meta import read_metadata
from datahygiene.stages.rights.copyright import CopyrightParams, CopyrightStage
from datahygiene.stages.rights.samples import c2pa_jpeg, exif_jpeg, iptc_jpeg, png_text, xmp_packet

WORDS = [
    "a",
    "the",
    "photo",
    "of",
    "dog",
    "cat",
    "street",
    "city",
    "night",
    "sunset",
    "harbour",
    "mountain",
    "woman",
    "man",
    "portrait",
    "red",
    "blue",
    "old",
    "new",
]
NOTICES = ["© 2021 Jane Doe", "Copyright 2019 Example Ltd. All rights reserved.", "Photo: Getty Images", "(AP Photo)"]
LICENSES = [None, None, "CC BY 4.0", "CC0", "CC BY-NC-SA 4.0", "MIT", "All rights reserved", "unknown"]
HOSTS = ["example.org", "cdn.example.net", "images.example.com", "media.gettyimages.com", "blog.example.io"]


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls, after one warm-up call."""
    fn()
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeats))


def text_batch(rows: int, rng: random.Random) -> Batch:
    """LAION-like caption rows: 5% with a notice or credit, licences and URLs from small pools."""
    texts = []
    for _ in range(rows):
        caption = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20)))
        if rng.random() < 0.05:
            caption += ". " + rng.choice(NOTICES)
        texts.append(caption)
    urls = [f"https://{rng.choice(HOSTS)}/img/{i}.jpg" for i in range(rows)]
    licenses = [rng.choice(LICENSES) for _ in range(rows)]
    return Batch(records=pa.RecordBatch.from_pydict({"text": texts, "url": urls, "license": licenses}))


def _photo(rng: random.Random, size: int) -> Image.Image:
    image = Image.effect_noise((size, size), 40).convert("RGB")
    return Image.blend(image, Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3))), 0.5)


def _jpeg(image: Image.Image, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def metadata_images(count: int, size: int, rng: random.Random) -> list[bytes]:
    """Real-sized JPEGs: a quarter plain, a quarter with EXIF rights, a quarter with XMP, a quarter with IPTC;
    plus the small sample PNG with text chunks every tenth image."""
    images: list[bytes] = []
    packet = xmp_packet(dc_rights="© 2020 Example Photo Ltd", dc_creator="John Smith", photoshop_Credit="Alamy")
    exif = Image.open(io.BytesIO(exif_jpeg("Jane Doe", "Copyright 2021 Jane Doe"))).getexif()
    iptc = Image.open(io.BytesIO(iptc_jpeg({(2, 116): "Copyright 2019 AP", (2, 110): "AP Photo"}))).info["photoshop"]
    for i in range(count):
        photo = _photo(rng, size)
        kind = i % 4
        if i % 10 == 9:
            images.append(png_text({"parameters": "a cat, Steps: 20", "Copyright": "All rights reserved"}))
        elif kind == 0:
            images.append(_jpeg(photo))
        elif kind == 1:
            images.append(_jpeg(photo, exif=exif.tobytes()))
        elif kind == 2:
            images.append(_jpeg(photo, xmp=packet))
        else:
            data = _jpeg(photo)
            segment = iptc[0x0404]
            payload = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + len(segment).to_bytes(4, "big") + segment
            images.append(data[:2] + b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:])
    return images


def image_batch(images: list[bytes]) -> Batch:
    column = pa.array([{"bytes": data, "path": None} for data in images], IMAGE_TYPE)
    return Batch(records=pa.RecordBatch.from_pydict({"image": column, "text": ["a photo"] * len(images)}))


def per_batches(stage: CopyrightStage, images: list[bytes], size: int) -> Callable[[], object]:
    """Process ``images`` in runner-sized batches, each a fresh Batch (no metadata cache carried over)."""

    def go() -> None:
        for start in range(0, len(images), size):
            stage.process(image_batch(images[start : start + size]))

    return go


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--text-rows", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--c2pa-images", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    stage = CopyrightStage(CopyrightParams(), StageContext(offline=True))

    batch = text_batch(args.text_rows, rng)
    seconds = timed(lambda: stage.process(batch), args.repeats)
    print(f"text rows (caption+url+license), {args.text_rows} rows: {args.text_rows / seconds:,.0f} rows/s")

    images = metadata_images(args.images, args.image_size, rng)
    seconds = timed(per_batches(stage, images, 64), args.repeats)
    print(f"images {args.image_size}px with EXIF/XMP/IPTC/PNG text, {args.images}: {args.images / seconds:,.0f} rows/s")
    seconds = timed(lambda: [read_metadata(data) for data in images], args.repeats)
    print(f"  read_metadata alone: {args.images / seconds:,.0f} images/s")
    seconds = timed(lambda: [Image.open(io.BytesIO(data)).convert("RGB") for data in images], args.repeats)
    print(f"  for scale, full decode to RGB (what the runner does once): {args.images / seconds:,.0f} images/s")

    signed = [
        c2pa_jpeg({"c2pa.ai_training": rng.choice(["notAllowed", "allowed", "constrained"])})
        for _ in range(args.c2pa_images)
    ]
    seconds = timed(per_batches(stage, signed, 64), args.repeats)
    print(f"C2PA-signed images, {args.c2pa_images}: {args.c2pa_images / seconds:,.0f} rows/s")
    no_c2pa = CopyrightStage(CopyrightParams(c2pa=False), StageContext(offline=True))
    seconds = timed(per_batches(no_c2pa, signed, 64), args.repeats)
    print(f"  same with c2pa: false: {args.c2pa_images / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
