"""Speed of the likeness taggers: face detection with and without downscaling, name finding, blurring.

Images are the real photographs in ``--images`` (no people) plus the same photos with the test face pasted in,
resized so their longest side is 512 or 1024 px. Captions are the hand-labelled name sets, repeated.
Each figure is the median of ``--repeats`` runs; one process, one thread (``OMP_NUM_THREADS=1`` recommended).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
from PIL import Image

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.likeness.blur import blur_faces, encode_like
from datahygiene.stages.likeness.faces import HaarDetector
from datahygiene.stages.likeness.names import NameFinder, precision_recall, read_labelled
from datahygiene.stages.likeness.stage import LikenessParams, LikenessStage

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "likeness" / "data"
FULL = 100_000  # a max_side no image reaches: detect on the full image


def timed(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeats`` calls (CPU time is steadier on a shared machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def load_photos(folder: Path, side: int) -> list[Image.Image]:
    """Every decodable photo in ``folder`` resized so its longest side is ``side``."""
    photos = []
    for path in sorted(folder.glob("*.jpg")):
        try:
            photo = Image.open(path).convert("RGB")
        except OSError:
            continue
        scale = side / max(photo.size)
        photos.append(photo.resize((round(photo.width * scale), round(photo.height * scale))))
    return photos


def with_face(photos: list[Image.Image], share: int) -> list[Image.Image]:
    """Each photo with the test face crop pasted in at 1/``share`` of its longest side, placed differently."""
    face = Image.open(DATA / "face.jpg").convert("RGB")
    out = []
    for k, photo in enumerate(photos):
        size = max(photo.size) // share
        image = photo.copy()
        image.paste(face.resize((size, size)), ((k * 97) % (photo.width - size), (k * 53) % (photo.height - size)))
        out.append(image)
    return out


def bench_faces(folder: Path, repeats: int) -> None:
    """Images/s of the Haar detector at 512 and 1024 px; detection counts by face size; false positives."""
    print(
        "| side | detect on | images/s wall | images/s CPU | photos without people, face found | face 1/3 | 1/6 | 1/9 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for side in (512, 1024):
        photos = load_photos(folder, side)
        variants = [with_face(photos, share) for share in (3, 6, 9)]
        for max_side in (384, 512, FULL):
            if side <= max_side < FULL:
                continue
            label = "full image" if max_side == FULL else f"{max_side} px copy"
            if min(max_side, side) == min(LikenessParams().max_side, side):
                label += " (default)"
            detector = HaarDetector(max_side=max_side)
            wall, cpu = timed(lambda d=detector, p=photos: [d.detect(image) for image in p], repeats)  # type: ignore[misc]
            false = sum(1 for image in photos if detector.detect(image))
            found = [sum(1 for image in variant if detector.detect(image)) for variant in variants]
            counts = " | ".join(f"{n}/{len(photos)}" for n in found)
            rates = f"{len(photos) / wall:.1f} | {len(photos) / cpu:.1f}"
            print(f"| {side} | {label} | {rates} | {false}/{len(photos)} | {counts} |")


def bench_names(repeats: int, rows: int) -> None:
    """Captions/s of the name finder and of the stage with faces off; precision/recall on the labelled sets."""
    labelled = read_labelled(DATA / "names_eval.tsv") + read_labelled(DATA / "names_heldout.tsv")
    captions = [text for text, _ in labelled] * (rows // len(labelled) + 1)
    captions = captions[:rows]
    finder = NameFinder()
    wall, cpu = timed(lambda: [finder.find(text) for text in captions], repeats)
    print(f"\nname finder: {rows / wall:,.0f} captions/s wall, {rows / cpu:,.0f} CPU ({rows} captions)")
    import pyarrow as pa

    stage = LikenessStage(LikenessParams(faces=False), StageContext())
    batch = Batch(records=pa.RecordBatch.from_pydict({"text": captions}))
    wall, cpu = timed(lambda: stage.process(batch), repeats)
    print(f"likeness stage, names only: {rows / wall:,.0f} rows/s wall, {rows / cpu:,.0f} CPU")
    for file in ("names_eval.tsv", "names_heldout.tsv"):
        precision, recall = precision_recall(finder, read_labelled(DATA / file))
        print(f"{file}: precision {precision:.2f}, recall {recall:.2f} (name level)")


def bench_blur(folder: Path, repeats: int) -> None:
    """Seconds to blur one face and re-encode a 1024 px JPEG."""
    image = with_face(load_photos(folder, 1024), 3)[0]
    faces = HaarDetector().detect(image)
    original = encode_like(image, b"\xff\xd8\xff")
    wall, cpu = timed(lambda: encode_like(blur_faces(image, faces), original), repeats * 5)
    print(f"\nblur + JPEG re-encode at 1024 px: {wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU ({len(faces)} face)")


def bench_stage(folder: Path, repeats: int) -> None:
    """The whole stage (defaults) on 1024 px JPEG rows with captions, next to the runner's decoding of the same rows."""
    import io

    import pyarrow as pa

    from datahygiene.core import columns as C
    from datahygiene.core.reasons import Reasons
    from datahygiene.io.decode import decode_images

    photos = load_photos(folder, 1024)
    images = photos + with_face(photos, 3)
    payloads = []
    for image in images:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        payloads.append(out.getvalue())
    captions = ["Taylor Swift on stage", "a quiet street at dusk"] * (len(images) // 2)
    column = pa.array([{"bytes": b, "path": None} for b in payloads], C.IMAGE_TYPE)
    records = pa.RecordBatch.from_pydict({"text": captions, "image": column})

    def decode() -> list[Image.Image | None]:
        return decode_images(column, Reasons(len(payloads)), max_pixels=10**8, max_bytes=1 << 26)

    decoded = decode()
    stage = LikenessStage(LikenessParams(), StageContext())
    blur = LikenessStage(LikenessParams(blur=["face"]), StageContext())
    n = len(payloads)
    print("\n| 1024 px JPEG rows with captions | rows/s wall | rows/s CPU |")
    print("| --- | --- | --- |")
    for label, work in (
        ("runner decode (for scale)", decode),
        ("likeness stage, defaults", lambda: stage.process(Batch(records=records, images=decoded))),
        ("likeness stage, blur: [face]", lambda: blur.process(Batch(records=records, images=decoded))),
    ):
        wall, cpu = timed(work, repeats)
        print(f"| {label} | {n / wall:.1f} | {n / cpu:.1f} |")


def main() -> None:
    """Print the tables docs/likeness.md quotes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, default=REPO.parent / "shared" / "eval-data" / "near-dup-images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--captions", type=int, default=20_000)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    bench_faces(args.images, args.repeats)
    bench_names(args.repeats, args.captions)
    bench_blur(args.images, args.repeats)
    bench_stage(args.images, args.repeats)


if __name__ == "__main__":
    main()
