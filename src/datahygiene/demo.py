"""A small demo dataset, generated in code, with planted problems of every kind.

``texts.jsonl``: clean sentences plus toxic ones, exact and near duplicates,
rights notices, AI-disclosure captions, a malformed line, invalid UTF-8, an
empty text and a duplicate id. ``pairs.parquet``: image-caption pairs with a
re-encoded duplicate image, a truncated JPEG, a zero-byte image, EXIF
copyright, restrictive licences and stock-photo URLs. ``photos/``: a folder
of images with a corrupt file. Generation is deterministic.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

_CLEAN = [
    "The library opens at nine on weekdays and at ten on Saturdays.",
    "Add the flour slowly and stir until the batter is smooth.",
    "The committee will publish its findings in the spring report.",
    "A heron stood motionless in the shallow water by the reeds.",
    "Backups run every night and are kept for thirty days.",
    "The train to the coast was delayed by twenty minutes this morning.",
    "She planted tomatoes, basil and marigolds along the fence.",
    "Our team fixed the memory leak in the image decoder.",
    "The museum's new wing shows ceramics from the Song dynasty.",
    "Drink water regularly when you hike in hot weather.",
    "The bridge was repainted last summer in its original green.",
    "He learned to play the cello at the age of forty.",
]
_TOXIC = [
    "You are a worthless idiot and everyone hates you.",
    "Shut up, you stupid moron, nobody wants your garbage opinions.",
    "I will find you and hurt you, you pathetic piece of trash.",
]
_RIGHTS = [
    "Sunset over the harbour. © 2021 Getty Images. All rights reserved.",
    "Copyright 2019 Jane Doe Photography, all rights reserved.",
]
_SYNTHETIC = [
    "Castle on a floating island, AI-generated with Stable Diffusion.",
    "Portrait of a cat astronaut (made with Midjourney).",
]


def _picture(seed: int, size: tuple[int, int] = (256, 192)) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(20, 120), y0 + rng.randrange(20, 120)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    return image


def _jpeg(image: Image.Image, quality: int = 90, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())
    return buffer.getvalue()


def _texts(directory: Path) -> int:
    lines: list[bytes] = []
    rows = [{"id": f"t{i:03d}", "text": text, "source": "demo"} for i, text in enumerate(_CLEAN)]
    rows += [{"id": f"tox{i}", "text": text, "source": "forum"} for i, text in enumerate(_TOXIC)]
    rows += [{"id": f"rights{i}", "text": text, "source": "captions"} for i, text in enumerate(_RIGHTS)]
    rows += [{"id": f"synth{i}", "text": text, "source": "captions"} for i, text in enumerate(_SYNTHETIC)]
    rows.append({"id": "dup-exact", "text": _CLEAN[0], "source": "mirror"})
    rows.append({"id": "dup-near", "text": _CLEAN[1].replace("slowly", "slowly,") + " ", "source": "mirror"})
    rows.append({"id": "empty", "text": "   ", "source": "demo"})
    rows.append({"id": "t000", "text": "This row reuses an id that is already taken.", "source": "demo"})
    lines = [json.dumps(row).encode() for row in rows]
    lines.insert(5, b'{"id": "broken", "text": "unterminated')
    lines.insert(9, b'{"id": "latin1", "text": "caf\xe9 au lait"}')
    (directory / "texts.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


def _pairs(directory: Path) -> int:
    pictures = [_picture(seed) for seed in range(8)]
    exif = Image.Exif()
    exif[0x8298] = "Copyright 2020 Example Stock Agency"  # EXIF Copyright
    exif[0x013B] = "A. Photographer"  # EXIF Artist
    images = [_jpeg(p) for p in pictures]
    images[3] = _jpeg(pictures[3], exif=exif)
    captions = [f"Abstract shapes, study number {i}" for i in range(len(pictures))]
    licenses = [
        "CC-BY-4.0",
        "CC0-1.0",
        "CC-BY-NC-4.0",
        "All rights reserved",
        "MIT",
        "CC-BY-SA-4.0",
        "unknown",
        "CC0-1.0",
    ]
    urls = [f"https://example.org/img/{i}.jpg" for i in range(len(pictures))]
    urls[5] = "https://www.shutterstock.com/image-photo/5"
    ids = [f"p{i}" for i in range(len(pictures))]
    # Planted problems: a re-encoded, resized copy; a truncated file; an empty file.
    ids += ["p0-copy", "p-truncated", "p-empty"]
    images += [_jpeg(pictures[0].resize((192, 144)), quality=75), images[1][: len(images[1]) // 2], b""]
    captions += ["Abstract shapes, study number 0", "A damaged upload", "An empty upload"]
    licenses += ["CC-BY-4.0", "CC-BY-4.0", "CC-BY-4.0"]
    urls += ["https://mirror.example.net/0.jpg", "https://example.org/t.jpg", "https://example.org/e.jpg"]
    table = pa.table(
        {
            "id": ids,
            "image": pa.array(images, pa.binary()),
            "caption": captions,
            "license": licenses,
            "url": urls,
        }
    )
    pq.write_table(table, directory / "pairs.parquet")
    return len(ids)


def _photos(directory: Path) -> int:
    folder = directory / "photos"
    (folder / "garden").mkdir(parents=True, exist_ok=True)
    for seed in range(4):
        _picture(100 + seed).save(folder / "garden" / f"photo{seed}.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return 5


def make_demo(directory: Path) -> dict[str, int]:
    """Write the demo dataset into ``directory``; returns rows per input."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "texts.jsonl": _texts(directory),
        "pairs.parquet": _pairs(directory),
        "photos/": _photos(directory),
    }
