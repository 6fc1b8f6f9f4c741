"""Recall and speed of the likeness taggers: face detectors, small faces in large photos, names, blurring.

Images are the real photographs in ``--images`` (no people; ukbench01380, whose CD cover shows a painted
portrait, is left out) plus the same photos with the shipped test face (a real photograph) pasted in: at 1/3,
1/6 and 1/9 of the longest side of 512 and 1024 px copies, and as a small face (face box 16-32 px) in copies
enlarged to 1,600 and 2,000 px. Captions are the hand-labelled name sets, repeated. Each speed figure is the
median of ``--repeats`` runs; one process, one thread (``OMP_NUM_THREADS=1`` recommended; OpenCV and
onnxruntime are set to one thread here).
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
from datahygiene.stages.likeness.faces import FaceDetector, HaarDetector
from datahygiene.stages.likeness.names import NameFinder, precision_recall, read_labelled
from datahygiene.stages.likeness.retina import RetinaFaceDetector
from datahygiene.stages.likeness.stage import LikenessParams, LikenessStage
from datahygiene.stages.likeness.tiles import Scales

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "stages" / "likeness" / "data"
FULL = 100_000  # a max_side no image reaches: detect on the full image
PAINTED_PORTRAIT = "ukbench01380.jpg"
FACE_IN_CROP = 74  # width of the face box in the 160 px test crop
PARTS = ("faces", "small", "ratios", "names", "blur", "stage")


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
        if path.name == PAINTED_PORTRAIT:
            continue
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


def detectors() -> list[tuple[str, FaceDetector]]:
    """The detectors compared: the Haar cascade (the old default) and RetinaFace without tiles, with the previous
    default tiling (1.6x, every 640 px tile), and with the default (1.25x, tiles of at most 1,024 px, flat
    regions skipped, lower candidate score, stricter confirmation)."""
    return [
        ("haar, 512 px copy", HaarDetector()),
        ("retinaface, 640 px pass only", RetinaFaceDetector(scales=Scales(min_face=10**9), threads=1)),
        (
            "retinaface, previous default (1.6x, 640 px tiles, score 0.3, confirm 0.95)",
            RetinaFaceDetector(
                scales=Scales(net_face=32, tile=640, flat=0), score=0.3, confirm=0.95, recheck=1.0, threads=1
            ),
        ),
        ("retinaface (default: 1.25x, 1,024 px tiles, flat skipped)", RetinaFaceDetector(threads=1)),
    ]


def bench_faces(folder: Path, repeats: int) -> None:
    """Images/s per detector at 512 and 1024 px; detection counts by face size; false faces."""
    print("| side | detector | images/s wall | images/s CPU | faces on photos without people | face 1/3 | 1/6 | 1/9 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for side in (512, 1024):
        photos = load_photos(folder, side)
        variants = [with_face(photos, share) for share in (3, 6, 9)]
        for label, detector in detectors():
            wall, cpu = timed(lambda d=detector, p=photos: [d.detect(image) for image in p], repeats)  # type: ignore[misc]
            false = sum(len(detector.detect(image)) for image in photos)
            found = [sum(1 for image in variant if detector.detect(image)) for variant in variants]
            counts = " | ".join(f"{n}/{len(photos)}" for n in found)
            rates = f"{len(photos) / wall:.1f} | {len(photos) / cpu:.1f}"
            print(f"| {side} | {label} | {rates} | {false} | {counts} |")


def with_small_face(photo: Image.Image, face: int, k: int) -> tuple[Image.Image, tuple[float, float]]:
    """``photo`` with the test crop pasted so that its face box is ``face`` px wide; the face's centre."""
    crop = Image.open(DATA / "face.jpg").convert("RGB")
    side = round(crop.width * face / FACE_IN_CROP)
    x, y = (k * 389) % (photo.width - side), (k * 241) % (photo.height - side)
    image = photo.copy()
    image.paste(crop.resize((side, side), Image.Resampling.LANCZOS), (x, y))
    return image, (x + side / 2, y + side / 2)


def bench_small_faces(folder: Path, count: int) -> None:
    """Recall on small real faces (16-32 px) in 1,600 and 2,000 px photos, false faces elsewhere, CPU s/image."""
    sizes = (16, 20, 24, 28, 32)
    recall: dict[str, list[int]] = {}
    print("\n| photo side | detector | " + " | ".join(f"face {n} px" for n in sizes) + " | other boxes | CPU s/image |")
    print("| --- | --- | " + " | ".join("---" for _ in sizes) + " | --- | --- |")
    for side in (1600, 2000):
        photos = load_photos(folder, side)[:count]
        for label, detector in detectors():
            found, other, cpu = [], 0, 0.0
            for face in sizes:
                hits = 0
                for k, photo in enumerate(photos):
                    image, (cx, cy) = with_small_face(photo, face, k)
                    start = time.process_time()
                    boxes = detector.detect(image)
                    cpu += time.process_time() - start
                    near = [
                        b
                        for b in boxes
                        if abs(b.x + b.w / 2 - cx) < face * 0.6 and abs(b.y + b.h / 2 - cy) < face * 0.6
                    ]
                    hits += bool(near)
                    other += len(boxes) - len(near)
                found.append(f"{hits}/{len(photos)}")
                if face >= 20:
                    recall.setdefault(label, [0, 0])[0] += hits
                    recall[label][1] += len(photos)
            seconds = cpu / (len(sizes) * len(photos))
            print(f"| {side} | {label} | " + " | ".join(found) + f" | {other} | {seconds:.2f} |")
    for label, (hits, total) in recall.items():
        print(f"recall on 20-32 px faces, {label}: {hits}/{total} = {hits / total:.2f}")


def bench_ratios(folder: Path, repeats: int, count: int) -> None:
    """CPU seconds per image of the default RetinaFace and of the Haar cascade, timed alternately on the same photos
    (with a 24 px face pasted in) at 1,024, 1,600 and 2,000 px; medians of ``repeats`` rounds and their ratio."""
    haar, retina = HaarDetector(), RetinaFaceDetector(threads=1)
    print("\n| photo side | haar CPU s/image | retinaface CPU s/image | ratio |")
    print("| --- | --- | --- | --- |")
    for side in (1024, 1600, 2000):
        images = [with_small_face(photo, 24, k)[0] for k, photo in enumerate(load_photos(folder, side)[:count])]
        times: dict[str, list[float]] = {"haar": [], "retina": []}
        for _ in range(repeats):
            for name, detector in (("haar", haar), ("retina", retina)):
                _, cpu = timed(lambda d=detector, p=images: [d.detect(image) for image in p], 1)  # type: ignore[misc]
                times[name].append(cpu / len(images))
        h, r = statistics.median(times["haar"]), statistics.median(times["retina"])
        print(f"| {side} | {h:.3f} | {r:.3f} | {r / h:.1f}x |")


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
    stage = LikenessStage(LikenessParams(retina_threads=1), StageContext())
    haar = LikenessStage(LikenessParams(detector="haar"), StageContext())
    blur = LikenessStage(LikenessParams(blur=["face"], retina_threads=1), StageContext())
    n = len(payloads)
    print("\n| 1024 px JPEG rows with captions | rows/s wall | rows/s CPU |")
    print("| --- | --- | --- |")
    for label, work in (
        ("runner decode (for scale)", decode),
        ("likeness stage, defaults (retinaface)", lambda: stage.process(Batch(records=records, images=decoded))),
        ("likeness stage, detector: haar", lambda: haar.process(Batch(records=records, images=decoded))),
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
    parser.add_argument("--small-photos", type=int, default=6, help="photos per face size in the small-face table")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), help="run only these tables")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for part in args.only or PARTS:
        if part == "faces":
            bench_faces(args.images, args.repeats)
        elif part == "small":
            bench_small_faces(args.images, args.small_photos)
        elif part == "ratios":
            bench_ratios(args.images, args.repeats, args.small_photos)
        elif part == "names":
            bench_names(args.repeats, args.captions)
        elif part == "blur":
            bench_blur(args.images, args.repeats)
        else:
            bench_stage(args.images, args.repeats)


if __name__ == "__main__":
    main()
