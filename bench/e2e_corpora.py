"""Corpora for ``bench_end_to_end.py``, built from files already on the machine (nothing written by us).

* text: documents read from Debian's ``/usr/share/doc`` (copyright files, changelogs, READMEs) and a
  virtualenv's ``site-packages`` (source files, licences, docs), one JSON line ``{"id", "text"}`` each.
  Packages vendor the same files, so the corpus holds real exact and near duplicates.
* images: JPEGs cut from real photographs (the UKBench scenes in ``near-dup-images``, or any folder of
  photos): a 2x2 mosaic of random crops makes each distinct scene, at one of several sizes; a fifth of the
  files are variants of an earlier one (resized, re-encoded, mirrored, cropped), the near duplicates.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import orjson
from PIL import Image, ImageOps

TEXT_SUFFIXES = frozenset({".py", ".pyi", ".txt", ".md", ".rst", ".h", ".c", ".html", ".json", ".gz"})
TEXT_NAMES = frozenset({"copyright", "changelog", "README", "LICENSE", "COPYING", "NEWS"})
SIZES = ((320, 240), (480, 360), (640, 480), (800, 600))
VARIANTS = ("resize", "reencode", "mirror", "crop")


def text_files(roots: list[Path], min_bytes: int = 1024, max_bytes: int = 20 * 1024) -> list[Path]:
    """Text files under ``roots`` of a plausible document size, in a fixed pseudo-random order."""
    found: list[Path] = []
    for root in roots:
        for path in root.rglob("*"):
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                if path.suffix not in TEXT_SUFFIXES and path.name not in TEXT_NAMES:
                    continue
                if min_bytes <= path.stat().st_size <= max_bytes:
                    found.append(path)
            except OSError:
                continue
    return sorted(found, key=lambda p: hashlib.sha1(str(p).encode()).digest())


def write_text_corpus(out: Path, docs: int, roots: list[Path]) -> int:
    """``docs`` JSON lines from the files under ``roots`` (cycling through them when there are fewer)."""
    files = text_files(roots)
    if not files:
        raise SystemExit(f"no text files under {roots}")
    written = 0
    with out.open("wb") as handle:
        for index in range(10 * docs):
            if written == docs:
                break
            path = files[index % len(files)]
            try:
                data = path.read_bytes()
                text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
            except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
                continue
            if len(text.split()) < 20:
                continue
            handle.write(orjson.dumps({"id": f"{path}#{index // len(files)}", "text": text}) + b"\n")
            written += 1
    return written


def _scene(sources: list[Image.Image], rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A 2x2 mosaic of random crops of random photographs: a distinct picture."""
    w, h = size
    out = Image.new("RGB", size)
    for tile in range(4):
        src = sources[int(rng.integers(len(sources)))]
        sw, sh = src.size
        side = int(rng.integers(min(sw, sh) // 4, min(sw, sh) // 2))
        x, y = int(rng.integers(0, sw - side)), int(rng.integers(0, sh - side))
        crop = src.crop((x, y, x + side, y + side * 3 // 4)).resize((w // 2, h // 2))
        out.paste(crop, (w // 2 * (tile % 2), h // 2 * (tile // 2)))
    return out


def _variant(base: Image.Image, kind: str) -> Image.Image:
    w, h = base.size
    if kind == "resize":
        return base.resize((w * 3 // 4, h * 3 // 4))
    if kind == "mirror":
        return ImageOps.mirror(base)
    if kind == "crop":
        return base.crop((w // 20, h // 20, w - w // 20, h - h // 20))
    return base  # re-encoded at a lower quality below


def write_image_corpus(out: Path, count: int, photos: Path, seed: int = 0) -> int:
    """``count`` JPEG files in ``out`` (names sort in generation order); returns the bytes written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = sorted(p for p in photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    sources = []
    for path in paths:
        try:
            sources.append(Image.open(path).convert("RGB"))
        except OSError:
            continue  # the eval set holds one deliberately damaged file
    if not sources:
        raise SystemExit(f"no readable photos in {photos}")
    rng = np.random.default_rng(seed)
    originals: list[Image.Image] = []
    total = 0
    for k in range(count):
        if k % 5 == 4 and originals:
            kind = VARIANTS[(k // 5) % len(VARIANTS)]
            picture = _variant(originals[int(rng.integers(len(originals)))], kind)
            quality = 60 if kind == "reencode" else 90
        else:
            picture = _scene(sources, rng, SIZES[int(rng.integers(len(SIZES)))])
            originals.append(picture)
            if len(originals) > 256:  # keep memory flat: variants come from recent originals
                originals.pop(0)
            quality = 90
        path = out / f"{k:06d}.jpg"
        picture.save(path, quality=quality)
        total += path.stat().st_size
    return total
