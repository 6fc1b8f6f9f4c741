"""provenance.synthetic: recall and false positives on built inputs, watermark survival, rows/s.

Usage (from the repository root)::

    PYTHONPATH=src:. .venv/bin/python bench/bench_synthetic.py [--repeats 3]

Inputs are built in code (tests/stages/provenance/builders.py, datahygiene/rights/samples.py)
plus the shared evaluation data (../shared/eval-data):

* positives: every default watermark payload embedded with invisible-watermark
  into the UKBench photographs resized to 512x512 (both channel orders), generator
  PNG text chunks (A1111, ComfyUI, NovelAI, InvokeAI), EXIF/XMP generator fields,
  offline-signed C2PA assets with an AI digital source type, disclosure captions;
* negatives: the UKBench photographs as they are, resized and re-encoded, noise
  images, flat-colour graphics, scikit-learn's two sample photos, a Photoshop-tagged
  JPEG, a camera C2PA asset, and the 3,728 HateCheck sentences as captions
  (ordinary text that never discloses AI generation).

Watermark survival: the fraction of marked photographs whose mark still decodes
after JPEG recompression at quality 100..50 and after resizing. Speed: rows/s of
the stage on 512x512 PNG batches (metadata + watermark) and on caption-only
batches, and the per-image cost of the vectorised decoder against imwatermark's.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image
from sklearn.datasets import load_sample_images

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import eval_data_dir
from tests.stages.provenance.builders import (
    CAPTIONS_AI,
    CAPTIONS_CLEAN,
    clean_photographs,
    encode,
    generator_pngs,
    graphics,
    textured,
    watermarked,
)

from datahygiene.core import columns as C
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import Batch, StageContext
from datahygiene.io.decode import decode_images
from datahygiene.stages.provenance.synthetic import DEFAULT_PAYLOADS, SyntheticParams, SyntheticStage
from datahygiene.stages.provenance.watermark import WatermarkReader
from datahygiene.stages.rights.samples import c2pa_jpeg, exif_jpeg, xmp_jpeg, xmp_packet

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
QUALITIES = (100, 98, 95, 90, 85, 80, 70, 60, 50)
SCALES = (1.0, 0.99, 0.9, 0.75, 0.5, 1.25)
PAYLOADS = [spec.payload() for spec in DEFAULT_PAYLOADS]


def build_batch(images: Sequence[bytes | None], texts: Sequence[str | None]) -> Batch:
    """One batch built the way the runner builds it (images decoded once, shared by the stages)."""
    n = len(images)
    column = pa.array([None if b is None else {"bytes": b, "path": None} for b in images], C.IMAGE_TYPE)
    records = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(n)], "text": list(texts), "image": column})
    return Batch(records=records, images=decode_images(column, Reasons(n), max_pixels=10**8, max_bytes=1 << 26))


def tag(stage: SyntheticStage, images: Sequence[bytes | None], texts: Sequence[str | None]) -> list[list[str]]:
    """The stage's signals per row."""
    signals: list[list[str]] = stage.process(build_batch(images, texts))["synthetic_signals"].to_pylist()
    return signals


def photos(size: tuple[int, int] | None = None) -> list[Image.Image]:
    images = [Image.open(path).convert("RGB") for path in clean_photographs()]
    return [image.resize(size) if size else image for image in images]


def positives() -> dict[str, list[bytes]]:
    marked = [
        encode(watermarked(photo, payload, order))
        for payload in PAYLOADS
        for order in ("bgr", "rgb")
        for photo in photos((512, 512))
    ]
    metadata = [
        *generator_pngs().values(),
        exif_jpeg(software="Midjourney v6"),
        exif_jpeg(user_comment="a fox\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 5, Seed: 1"),
        xmp_jpeg(xmp_packet(xmp_CreatorTool="Adobe Firefly Image 3")),
        xmp_jpeg(xmp_packet(Iptc4xmpExt_DigitalSourceType=AI_SOURCE)),
        xmp_jpeg(xmp_packet(photoshop_Credit="Made with Google AI")),
    ]
    signed = [
        c2pa_jpeg(source_type=AI_SOURCE),
        c2pa_jpeg(source_type=AI_SOURCE.replace("trained", "compositeWithTrained")),
    ]
    return {"watermark (PNG)": marked, "generator metadata": metadata, "C2PA AI source type": signed}


def negatives() -> list[bytes]:
    originals = [path.read_bytes() for path in clean_photographs()]
    variants = [
        encode(image, fmt, **options)
        for image in [*photos((512, 512)), *photos((1024, 768))]
        for fmt, options in (("PNG", {}), ("JPEG", {"quality": 95}))
    ]
    built = [encode(textured(seed=seed)) for seed in range(8)] + [encode(image) for image in graphics()]
    built += [encode(Image.fromarray(array)) for array in load_sample_images().images]  # scikit-learn's two photos
    tagged = [exif_jpeg("Jane Doe", "(c) Jane Doe", software="Adobe Photoshop 25.0 (Windows)"), c2pa_jpeg()]
    return [*originals, *variants, *built, *tagged]


def hatecheck() -> list[str]:
    root = eval_data_dir()
    assert root is not None, "needs ../shared/eval-data"
    with (root / "hatecheck" / "test_suite_cases.csv").open(encoding="utf-8") as handle:
        return [row["test_case"] for row in csv.DictReader(handle)]


def _row(label: str, rows: int, flagged: int, positive: bool) -> None:
    rate = f"recall {flagged / rows:.3f}" if positive else f"FP {flagged / rows:.4f}"
    print(f"| {label} | {rows} | {flagged} | {rate} |")


def detection(stage: SyntheticStage) -> None:
    print("\n## Recall and false positives (any signal)\n")
    print("| input set | rows | flagged | rate |")
    print("| --- | --- | --- | --- |")
    for name, images in positives().items():
        _row(f"positives: {name}", len(images), sum(1 for s in tag(stage, images, [None] * len(images)) if s), True)
    captions = sum(1 for s in tag(stage, [None] * len(CAPTIONS_AI), CAPTIONS_AI) if s)
    _row("positives: disclosure captions", len(CAPTIONS_AI), captions, True)
    images = negatives()
    flagged = sum(1 for s in tag(stage, images, [None] * len(images)) if s)
    _row("negatives: photographs and variants, plain images", len(images), flagged, False)
    texts: list[str | None] = [*CAPTIONS_CLEAN, *hatecheck()]
    hits = tag(stage, [None] * len(texts), texts)
    _row("negatives: HateCheck sentences + clean captions", len(texts), sum(1 for s in hits if s), False)
    for text, signals in zip(texts, hits, strict=True):
        if signals:
            print(f"  false positive: {text!r} -> {signals}")


Transform = Callable[[Image.Image], Image.Image]


def _survives(reader: WatermarkReader, image: Image.Image, transform: Callable[[Image.Image], Image.Image]) -> bool:
    return bool(reader.find(transform(image)))  # a JPEG stays a JpegImageFile, as the runner decodes it


def _jpeg(quality: int, subsampling: int = 2) -> Callable[[Image.Image], Image.Image]:
    """JPEG round trip; Pillow's default chroma subsampling is 4:2:0 (2), 0 keeps full-resolution chroma."""
    return lambda image: Image.open(io.BytesIO(encode(image, "JPEG", quality=quality, subsampling=subsampling)))


def _scale(factor: float) -> Callable[[Image.Image], Image.Image]:
    def resize(image: Image.Image) -> Image.Image:
        size = (round(image.width * factor), round(image.height * factor))
        return image.resize(size, Image.Resampling.LANCZOS)

    return resize


def survival(stage: SyntheticStage) -> None:
    plain = SyntheticStage(SyntheticParams(watermark_jpeg_chroma=False), StageContext()).watermarks
    bases = photos((512, 512))
    marked = {p.name: [watermarked(base, p) for base in bases] for p in PAYLOADS}
    tolerance = ", ".join(f"{name} <= {errors}" for name, errors in stage.tolerance.items())
    print(
        f"\n## Watermark survival ({len(bases)} photographs at 512x512 per payload; bit-error tolerance {tolerance})\n"
    )
    print("| transform | " + " | ".join(marked) + " |")
    print("| --- |" + " --- |" * len(marked))
    transforms: list[tuple[str, Transform, WatermarkReader]] = [("PNG (lossless)", lambda i: i, stage.watermarks)]
    transforms += [(f"JPEG q{q}", _jpeg(q), stage.watermarks) for q in QUALITIES]
    transforms += [(f"JPEG q{q}, chroma not restored", _jpeg(q), plain) for q in (100, 98, 95)]
    transforms += [(f"JPEG q{q} 4:4:4", _jpeg(q, subsampling=0), stage.watermarks) for q in (100, 95, 90, 80)]
    transforms += [(f"resize x{f}", _scale(f), stage.watermarks) for f in SCALES if f != 1.0]
    for label, transform, reader in transforms:
        cells = [
            f"{sum(_survives(reader, m, transform) for m in images) / len(images):.2f}" for images in marked.values()
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


def _timed(work: Callable[[], Any], repeats: int) -> float:
    """Median CPU seconds of ``work`` (process time: the shared build machine's load does not inflate it)."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times)


def speed(stage: SyntheticStage, repeats: int) -> None:
    print(f"\n## Speed (median of {repeats}, CPU time of one process; the stage alone, images decoded beforehand)\n")
    images = [encode(photo) for photo in photos((512, 512))]
    rows = (images * 5)[:64]
    decode_seconds = _timed(lambda: build_batch(rows, [None] * len(rows)), repeats)
    print(f"- for scale, the runner's own decode of these 512x512 PNGs: {len(rows) / decode_seconds:.0f} rows/s")

    def fresh() -> Batch:  # a new batch each time: the metadata cache lives in the batch
        return Batch(records=batch.records, images=batch.images)

    batch = build_batch(rows, [None] * len(rows))
    for label, params in (("metadata + C2PA check + watermark", {}), ("`watermark: false`", {"watermark": False})):
        configured = SyntheticStage(SyntheticParams.model_validate(params), StageContext())
        seconds = _timed(lambda: configured.process(fresh()), repeats)  # noqa: B023 - called before the next loop
        print(f"- 512x512 PNG rows, {label}: {len(rows) / seconds:.0f} rows/s")
    texts: list[str | None] = [*hatecheck()]
    captions = build_batch([None] * len(texts), texts)
    seconds = _timed(lambda: stage.process(captions), repeats)
    print(f"- caption-only rows (HateCheck sentences): {len(texts) / seconds:.0f} rows/s")
    words = " ".join(hatecheck()).split()
    documents: list[str | None] = [" ".join(words[i : i + 2000]) for i in range(0, 200 * 97, 97)]
    long_rows = build_batch([None] * len(documents), documents)
    seconds = _timed(lambda: stage.process(long_rows), repeats)
    size = statistics.mean(len(d or "") for d in documents) / 1000
    print(f"- text-only rows, documents of 2,000 words (~{size:.0f} kB): {len(documents) / seconds:.0f} rows/s")
    image = batch.images[0] if batch.images else None
    assert image is not None
    fast = _timed(lambda: stage.watermarks.find(image), repeats * 5)
    reference = SyntheticStage(SyntheticParams(watermark_decoder="imwatermark"), StageContext()).watermarks
    slow = _timed(lambda: reference.find(image), repeats)
    print(f"- watermark check of one 512x512 image, 3 payloads x 2 channel orders: {fast * 1000:.1f} ms;")
    print(f"  with `watermark_decoder: imwatermark` {slow * 1000:.1f} ms ({slow / fast:.0f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", nargs="+", choices=("detection", "survival", "speed"), default=None)
    args = parser.parse_args()
    parts = args.parts or ["detection", "survival", "speed"]
    stage = SyntheticStage(SyntheticParams(), StageContext(offline=True))
    if "detection" in parts:
        detection(stage)
    if "survival" in parts:
        survival(stage)
    if "speed" in parts:
        speed(stage, args.repeats)


if __name__ == "__main__":
    main()
