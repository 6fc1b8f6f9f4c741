"""A small demo dataset, generated in code, with planted problems of every kind.

``texts.jsonl``: clean sentences plus toxic ones, exact and near duplicates,
rights notices, AI-disclosure captions, a malformed line, invalid UTF-8, an
empty text and a duplicate id. ``pairs.parquet``: image-caption pairs with a
re-encoded duplicate image, a truncated JPEG, a zero-byte image, EXIF
copyright, restrictive licences and stock-photo URLs. ``photos/``: a folder
of images with a corrupt file. Generation is deterministic.

Rows planted for the consent, likeness and provenance stages (what the
default config does with them is asserted in ``tests/e2e/test_demo.py``):

``optout-noai`` (texts)
    a page stored with its ``X-Robots-Tag: noai`` header (the JSONL field
    ``x_robots_tag``): rejected, reason ``opt_out:robots``.
``p-tdm`` (pairs)
    an image stored with its response headers (``headers`` column) holding
    ``tdm-reservation: 1``: rejected, reason ``opt_out:tdmrep``.
``p-generated`` (pairs)
    a PNG with an AUTOMATIC1111 ``parameters`` text chunk and an
    "AI-generated" caption: kept, ``synthetic_signals``
    ``generation_parameters`` and ``caption``.
``p-portrait`` (pairs)
    a drawn face (shapes, not a photograph; OpenCV's Haar cascade finds it)
    captioned "Portrait of Jane Doe": kept, ``likeness_signals`` ``face``,
    ``person_name`` and ``identifiable_person``.
``p-getty`` (pairs)
    a CC BY-NC picture captioned "© 2021 Getty Images": kept,
    ``copyright_signals`` ``agency_credit``, ``license:nc`` and ``notice``.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the generator imports Pillow and pyarrow where it draws and writes (the CLI starts light)
    from PIL import Image

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
    from PIL import Image, ImageDraw

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
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())
    return buffer.getvalue()


def _png(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    red, green, blue = (min(255, int(c * factor)) for c in colour)
    return red, green, blue


def _drawn_face(size: int = 256) -> Image.Image:
    """A face drawn from ellipses (hair, skin, shaded eye sockets, brows, nose, mouth), softened.

    Not a photograph, so the package ships no picture of anyone; the Haar cascade finds it.
    """
    from PIL import Image, ImageDraw, ImageFilter

    side = size * 2  # drawn at twice the size, then downscaled for smooth edges
    skin = (225, 185, 160)
    image = Image.new("RGB", (side, side), (90, 110, 130))
    draw = ImageDraw.Draw(image)
    cx, cy, w, h = side / 2, side / 2, side * 0.30, side * 0.40
    draw.ellipse((cx - w - 20, cy - h - 40, cx + w + 20, cy + h - 60), fill=(60, 40, 30))
    draw.ellipse((cx - w, cy - h, cx + w, cy + h), fill=skin)
    eye_w, eye_h, eye_y = w * 0.32, h * 0.13, cy - h * 0.18
    for sign in (-1, 1):
        ex = cx + sign * w * 0.42
        draw.ellipse(
            (ex - eye_w * 1.2, eye_y - eye_h * 1.6, ex + eye_w * 1.2, eye_y + eye_h * 1.2), fill=_shade(skin, 0.6)
        )
        draw.rectangle((ex - eye_w * 1.1, eye_y - h * 0.22, ex + eye_w * 1.1, eye_y - h * 0.17), fill=(70, 50, 40))
        draw.ellipse(
            (ex - eye_w * 0.7, eye_y - eye_h * 0.6, ex + eye_w * 0.7, eye_y + eye_h * 0.6), fill=(250, 250, 250)
        )
        draw.ellipse(
            (ex - eye_w * 0.35, eye_y - eye_h * 0.55, ex + eye_w * 0.35, eye_y + eye_h * 0.55), fill=(40, 30, 20)
        )
    draw.polygon([(cx, eye_y), (cx - w * 0.15, cy + h * 0.22), (cx + w * 0.15, cy + h * 0.22)], fill=_shade(skin, 1.08))
    draw.ellipse((cx - w * 0.18, cy + h * 0.16, cx + w * 0.18, cy + h * 0.26), fill=_shade(skin, 0.75))
    draw.ellipse((cx - w * 0.4, cy + h * 0.38, cx + w * 0.4, cy + h * 0.52), fill=(150, 60, 60))
    return image.filter(ImageFilter.GaussianBlur(4)).resize((size, size), Image.Resampling.LANCZOS)


# AUTOMATIC1111's web UI writes its generation settings into a PNG text chunk named "parameters".
_A1111_PARAMETERS = (
    "a castle on a hill at sunset, highly detailed\n"
    "Negative prompt: blurry, low quality\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 256x192, Model: v1-5-pruned-emaonly"
)


def _texts(directory: Path) -> int:
    lines: list[bytes] = []
    rows = [{"id": f"t{i:03d}", "text": text, "source": "demo"} for i, text in enumerate(_CLEAN)]
    rows += [{"id": f"tox{i}", "text": text, "source": "forum"} for i, text in enumerate(_TOXIC)]
    rows += [{"id": f"rights{i}", "text": text, "source": "captions"} for i, text in enumerate(_RIGHTS)]
    rows += [{"id": f"synth{i}", "text": text, "source": "captions"} for i, text in enumerate(_SYNTHETIC)]
    # Crawled with its response header X-Robots-Tag: noai; rights.copyright reads the field from `metadata`.
    rows.append(
        {
            "id": "optout-noai",
            "text": "A crawled blog post whose server sent X-Robots-Tag: noai.",
            "source": "crawl",
            "x_robots_tag": "noai",
        }
    )
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
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

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
    headers: list[str | None] = [None] * len(ids)
    # Planted for rights, likeness and provenance (see the module docstring).
    ids += ["p-tdm", "p-generated", "p-portrait", "p-getty"]
    images += [
        _jpeg(_picture(20)),
        _png(_picture(21), {"parameters": _A1111_PARAMETERS}),
        _png(_drawn_face()),
        _jpeg(_picture(22)),
    ]
    captions += [
        "Abstract shapes from a site that reserves text and data mining",
        "A castle on a hill at sunset (AI-generated)",
        "Portrait of Jane Doe, drawn for the demo",
        "Harbour at dusk. © 2021 Getty Images",
    ]
    licenses += ["CC-BY-4.0", "CC0-1.0", "CC-BY-4.0", "CC-BY-NC-4.0"]
    urls += [f"https://example.org/img/{name}.jpg" for name in ("tdm", "castle", "portrait", "harbour")]
    headers += ["Content-Type: image/jpeg\ntdm-reservation: 1", None, None, None]
    # Planted problems: a re-encoded, resized copy; a truncated file; an empty file.
    ids += ["p0-copy", "p-truncated", "p-empty"]
    images += [_jpeg(pictures[0].resize((192, 144)), quality=75), images[1][: len(images[1]) // 2], b""]
    captions += ["Abstract shapes, study number 0", "A damaged upload", "An empty upload"]
    licenses += ["CC-BY-4.0", "CC-BY-4.0", "CC-BY-4.0"]
    urls += ["https://mirror.example.net/0.jpg", "https://example.org/t.jpg", "https://example.org/e.jpg"]
    headers += [None, None, None]
    table = pa.table(
        {
            "id": ids,
            "image": pa.array(images, pa.binary()),
            "caption": captions,
            "license": licenses,
            "url": urls,
            "headers": pa.array(headers, pa.string()),  # stored HTTP response headers, read by rights.copyright
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


def make_demo_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write the demo dataset into.")] = Path("demo-data"),
) -> None:
    """Generate the small demo dataset (text and images with planted problems)."""
    for name, rows in make_demo(directory).items():
        typer.echo(f"{directory / name}: {rows} rows")
