"""Near-duplicate images: recall/false merges and speed against imagehash and imagededup, in one run.

The set is built in a temp directory from the real photos in ``near-dup-images`` (eval data): many distinct
scenes (crops at different places and scales of each photo), and for a quarter of them a variant
(resized, re-encoded, mirrored or letterboxed). Ground truth is known by construction.

    PYTHONPATH=src python bench/bench_dedup_images.py ../shared/eval-data/near-dup-images --images 2000
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image, ImageOps

from datahygiene.core.columns import IMAGE_TYPE
from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.dedup.dedup_stage import DedupStage
from datahygiene.stages.dedup.params import DedupParams

VARIANTS = ("resize", "reencode", "mirror", "letterbox")


def build(photos: list[Path], count: int, out: Path) -> tuple[list[Path], dict[int, tuple[int, str]]]:
    """Write ``count`` JPEGs; returns the files and ``{variant index: (original index, transform)}``."""
    rng = np.random.default_rng(0)
    sources = [Image.open(p).convert("RGB") for p in photos]
    files: list[Path] = []
    truth: dict[int, tuple[int, str]] = {}
    originals: list[Image.Image] = []
    n_orig = count * 4 // 5
    for _ in range(n_orig):
        im = Image.new("RGB", (480, 360))
        for tile in range(4):  # a 2x2 mosaic of random crops of random photos: a distinct scene
            src = sources[int(rng.integers(len(sources)))]
            w, h = src.size
            side = int(rng.integers(min(w, h) // 4, min(w, h) // 2))
            x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
            crop = src.crop((x, y, x + side, y + side * 3 // 4)).resize((240, 180))
            im.paste(crop, (240 * (tile % 2), 180 * (tile // 2)))
        originals.append(im)
    images: list[Image.Image] = list(originals)
    for k in range(count - n_orig):
        kind = VARIANTS[k % len(VARIANTS)]
        base = originals[k * 3 % n_orig]
        if kind == "resize":
            im = base.resize((240, 180))
        elif kind == "reencode":
            im = base
        elif kind == "mirror":
            im = ImageOps.mirror(base)
        else:
            im = Image.new("RGB", (480, 480))
            im.paste(base, (0, 60))
        truth[len(images)] = (k * 3 % n_orig, kind)
        images.append(im)
    for k, im in enumerate(images):
        path = out / f"{k:06d}.jpg"
        im.save(path, quality=70 if k in truth and truth[k][1] == "reencode" else 90)
        files.append(path)
    return files, truth


def run_ours(files: list[Path], from_bytes: bool) -> list[Any]:
    """The ``dedup`` stage on raw bytes (decoding included: the runner's full decode, or the stage's draft decode)."""
    params = {"near_image": {"from_bytes": from_bytes}, "exact": {"image_pixels": not from_bytes}}
    stage = DedupStage(DedupParams.model_validate(params), StageContext())
    dup_of: list[Any] = []
    for start in range(0, len(files), 1000):
        chunk = files[start : start + 1000]
        blobs = [p.read_bytes() for p in chunk]
        images: list[Image.Image | None] = []
        for p in chunk:
            if from_bytes:
                images.append(Image.new("RGB", (1, 1)))  # placeholder: the stage decodes reduced-size itself
            else:
                im = Image.open(p)
                im.load()
                images.append(im)
        col = pa.array([{"bytes": b, "path": None} for b in blobs], type=IMAGE_TYPE)
        ids = pa.array([str(i) for i in range(start, start + len(chunk))])
        batch = Batch(records=pa.record_batch({"id": ids, "image": col}), images=images)
        dup_of += stage.process(batch)["dup_of"].to_pylist()
    return dup_of


def _imagehash_one(path: Path) -> int:
    import imagehash

    return int(str(imagehash.phash(Image.open(path))), 16)


def run_imagehash(files: list[Path]) -> list[Any]:
    """imagehash.phash in 2 processes, then a numpy Hamming scan of all earlier images (radius 10)."""
    with ProcessPoolExecutor(2) as pool:
        hashes = np.array(list(pool.map(_imagehash_one, files, chunksize=64)), dtype=np.uint64)
    out: list[Any] = []
    for i in range(len(hashes)):
        d = np.bitwise_count(hashes[:i] ^ hashes[i])
        out.append(str(int(np.argmin(d))) if i and d.min() <= 10 else None)
    return out


def run_imagededup(files: list[Path]) -> list[Any]:
    """imagededup PHash.find_duplicates_to_remove on the directory."""
    from imagededup.methods import PHash

    found = PHash().find_duplicates(image_dir=str(files[0].parent), max_distance_threshold=10)
    index = {f.name: str(i) for i, f in enumerate(files)}
    return [{index[name] for name in found.get(f.name, [])} for f in files]


def _clocked(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time and the last result."""
    runs = [_clocked(fn) for _ in range(repeats)]
    return statistics.median(seconds for seconds, _ in runs), runs[-1][1]


def score(name: str, took: float, flags: list[Any], truth: dict[int, tuple[int, str]], n: int) -> None:
    """Recall per transform (the variant is matched to its own original) and originals merged with another one."""
    matched = [m if isinstance(m, set) else ({m} if m is not None else set()) for m in flags]
    caught = {kind: [str(o) in matched[i] for i, (o, k) in truth.items() if k == kind] for kind in VARIANTS}
    false = sum(any(int(j) not in truth for j in matched[i]) for i in range(n) if i not in truth)
    rec = " ".join(f"{k}={np.mean(v):.2f}" for k, v in caught.items())
    print(f"{name}: {took:.2f} s ({n / took:.0f} images/s)  recall {rec}  originals wrongly merged {false}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--peers", default="imagehash,imagededup")
    args = parser.parse_args()
    photos = [p for p in sorted(args.photos.glob("*.jpg")) if "_" not in p.stem]
    with tempfile.TemporaryDirectory() as tmp:
        files, truth = build(photos, args.images, Path(tmp))
        n = len(files)
        took, flags = timed(lambda: run_ours(files, from_bytes=False), args.repeats)
        score("datahygiene dedup (full decode)", took, flags, truth, n)
        took, flags = timed(lambda: run_ours(files, from_bytes=True), args.repeats)
        score("datahygiene dedup (draft decode)", took, flags, truth, n)
        peers = {"imagehash": run_imagehash, "imagededup": run_imagededup}
        for name in [p for p in args.peers.split(",") if p]:
            try:
                took, flags = timed(functools.partial(peers[name], files), args.repeats)
            except ImportError as exc:
                print(f"{name}: not installed ({exc})")
                continue
            score(name, took, flags, truth, n)


if __name__ == "__main__":
    main()
