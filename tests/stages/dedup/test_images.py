"""Exact and pHash near-duplicate images, semantic matches, and undecodable rows."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from datahygiene.stages.dedup import phash

from .helpers import column, image_batch, jpeg, make_stage, scene

EVAL = Path(os.environ.get("DATAHYGIENE_EVAL_DATA", Path(__file__).parents[3] / ".." / "shared" / "eval-data"))


def letterbox(image: Image.Image) -> Image.Image:
    w, h = image.size
    canvas = Image.new("RGB", (w, w), (0, 0, 0))
    canvas.paste(image, (0, (w - h) // 2))
    return canvas


def test_variants_join_their_original_and_scenes_stay_apart() -> None:
    base = scene(1)
    blobs = [
        jpeg(base),
        jpeg(scene(2)),
        jpeg(base),  # same bytes
        jpeg(base, quality=60),  # same picture, re-encoded: pixels differ slightly
        jpeg(base.resize((160, 120))),
        jpeg(ImageOps.mirror(base)),
        jpeg(letterbox(base)),
        b"not an image",
        None,
        jpeg(scene(3)),
    ]
    out = make_stage().process(image_batch([f"i{k}" for k in range(len(blobs))], blobs))
    assert column(out, "dup_of") == [None, None, "i0", "i0", "i0", "i0", "i0", None, None, None]
    assert column(out, "dup_kind") == [None, None, "exact", "near", "near", "near", "near", None, None, None]


def test_mirror_and_trim_are_options() -> None:
    base = scene(4)
    blobs = [jpeg(base), jpeg(ImageOps.mirror(base)), jpeg(letterbox(base))]
    out = make_stage(near_image={"mirror": False, "trim_borders": False}).process(image_batch(["a", "b", "c"], blobs))
    assert column(out, "dup_kind") == [None, None, None]


def test_pixel_hash_catches_lossless_reencode() -> None:
    base = scene(5)
    png = io.BytesIO()
    base.save(png, format="PNG")
    bmp = io.BytesIO()
    base.save(bmp, format="BMP")
    stage = make_stage(near_image={"enabled": False})
    out = stage.process(image_batch(["png", "bmp"], [png.getvalue(), bmp.getvalue()]))
    assert column(out, "dup_of") == [None, "png"]
    assert column(out, "dup_kind") == [None, "exact"]


def test_multi_index_probes_find_every_hash_within_radius() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=200, dtype=np.uint64)
    for radius in (4, 8, 12):
        inserted = phash.insert_keys(base, radius)
        for flips in (radius, radius + 1):
            noisy = base.copy()
            for k in range(len(noisy)):
                for bit in rng.choice(64, size=flips, replace=False):
                    noisy[k] ^= np.uint64(1) << np.uint64(bit)
            probes = phash.probe_keys(noisy, radius)
            hit = np.array([len(set(probes[k]) & set(inserted[k])) > 0 for k in range(len(base))])
            if flips <= radius:
                assert hit.all()  # pigeonhole guarantee
    assert probes.shape[1] < 2000  # a bounded number of probes, independent of index size


def test_semantic_matches_use_artifact_and_ignore_missing_embeddings() -> None:
    rng = np.random.default_rng(1)
    e = rng.normal(size=(5, 16)).astype(np.float32)
    e[2] = e[0] + 0.01 * rng.normal(size=16)
    e[3] = 0.0  # row without an image embedding
    e[4] = np.nan
    e /= np.linalg.norm(e, axis=1, keepdims=True).clip(1e-9)
    blobs = [jpeg(scene(s)) for s in (10, 11, 12, 13, 14)]
    stage = make_stage(exact={"image_bytes": False, "image_pixels": False}, near_image={"enabled": False})
    out = stage.process(image_batch(list("abcde"), blobs, embeddings=e))
    assert column(out, "dup_of") == [None, None, "a", None, None]
    assert column(out, "dup_kind")[2] == "semantic"
    assert column(out, "dup_similarity")[2] > 0.95
    # across batches through the faiss index
    out2 = stage.process(image_batch(["f"], [jpeg(scene(15))], embeddings=e[1:2]))
    assert column(out2, "dup_of") == ["b"]


def test_draft_decoding_from_bytes_still_matches_resized_copy() -> None:
    base = scene(20, (640, 480))
    blobs = [jpeg(base), jpeg(base.resize((320, 240))), jpeg(scene(21, (640, 480)))]
    out = make_stage(near_image={"from_bytes": True}).process(image_batch(["a", "b", "c"], blobs))
    assert column(out, "dup_of") == [None, "a", None]


@pytest.mark.skipif(not (EVAL / "near-dup-images").is_dir(), reason="eval data directory absent")
def test_eval_near_dup_images() -> None:
    files = sorted((EVAL / "near-dup-images").glob("*.jpg"))
    ids = [f.stem for f in files]
    out = make_stage().process(image_batch(ids, [f.read_bytes() for f in files]))
    dup = dict(zip(ids, column(out, "dup_of"), strict=True))
    assert dup["ukbench00120_resize"] == "ukbench00120"
    assert dup["ukbench00120_hflip"] == "ukbench00120"  # mirror option (on by default)
    assert dup["ukbench09268_corrupt"] is None  # undecodable: never matched, never a representative
    originals = [i for i in ids if "_" not in i]
    assert all(dup[i] is None for i in originals)  # distinct scenes never merge
    assert dup["ukbench00120_rotation"] is None  # rotations are not caught (documented)


def _digit(index: int) -> bytes:
    """A scikit-learn handwritten digit (8x8, shipped with the package) drawn 20x20 on a 28x28 black canvas."""
    from sklearn.datasets import load_digits

    pixels = (load_digits().images[index] * 255 / 16).astype(np.uint8)
    canvas = Image.new("L", (28, 28), 0)
    canvas.paste(Image.fromarray(pixels, "L").resize((20, 20), Image.Resampling.BICUBIC), (4, 4))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def test_small_images_are_matched_exactly_only() -> None:
    """Two different 28x28 digits (a 9 and a 3) whose pHashes differ in only 8 bits are not near duplicates."""
    nine, three = _digit(149), _digit(962)
    ids = ["nine", "three", "nine-copy"]
    blobs = [nine, three, nine]
    out = make_stage().process(image_batch(ids, blobs))
    assert column(out, "dup_of") == [None, None, "nine"]
    assert column(out, "dup_kind") == [None, None, "exact"]
    pre_fix = make_stage(near_image={"min_side": 0}).process(image_batch(ids, blobs))
    assert column(pre_fix, "dup_of") == [None, "nine", "nine"]  # what pHash alone did with them
    assert column(pre_fix, "dup_similarity")[1] == pytest.approx(1 - 8 / 64)
