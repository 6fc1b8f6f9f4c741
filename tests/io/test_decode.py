"""Image decoding: reduced-size validation rejects what a full decode rejects; batches decode in order."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from datahygiene.core.columns import IMAGE_TYPE
from datahygiene.core.config import load_config, parse_config
from datahygiene.core.reasons import Reasons
from datahygiene.io.decode import decode_image, decode_images
from datahygiene.stages.dedup import phash
from tests.helpers import rows_by_id, run_inputs

LIMITS: dict[str, Any] = {"max_pixels": 100_000_000, "max_bytes": 64 << 20}


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = (rng.random((size[1] // 16 + 1, size[0] // 16 + 1, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def _encode(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _cases() -> dict[str, bytes]:
    photo = _photo((800, 600))
    baseline = _encode(photo, quality=92)
    progressive = _encode(photo, quality=92, progressive=True)
    png = _encode(photo.resize((200, 150)), "PNG")
    cases = {"baseline": baseline, "progressive": progressive, "png": png, "empty": b"", "garbage": b"\xff\xd8 junk"}
    for name, data in (("baseline", baseline), ("progressive", progressive), ("png", png)):
        for cut in (0.3, 0.8, 0.98):
            cases[f"{name}-cut{cut}"] = data[: int(len(data) * cut)]
    cases["bomb"] = _bomb_png(20_000, 20_000)
    return cases


@pytest.mark.parametrize("name", sorted(_cases()))
def test_reduced_decode_rejects_exactly_what_a_full_decode_rejects(name: str) -> None:
    data = _cases()[name]
    limits = {**LIMITS, "max_pixels": 10_000_000}
    full, full_reason = decode_image(data, **limits)
    reduced, reduced_reason = decode_image(data, **limits, reduced=True)
    assert reduced_reason == full_reason
    assert (reduced is None) == (full is None)
    if "cut" in name:
        assert reduced_reason == "image_truncated"


def test_reduced_jpeg_decode_is_small_and_is_what_phash_decodes() -> None:
    data = _encode(_photo((1024, 768)), quality=90)
    reduced, reason = decode_image(data, **LIMITS, reduced=True)
    assert reason is None
    assert reduced is not None
    assert reduced.mode == "L"
    assert max(reduced.size) <= 256  # 1/4 scale: the smallest DCT scale at least 128 on the short side
    expected = phash.open_reduced(data)
    expected.load()
    assert np.array_equal(np.asarray(reduced), np.asarray(expected))
    full, _ = decode_image(data, **LIMITS)
    assert full is not None
    assert full.size == (1024, 768)
    assert full.mode == "RGB"


def test_batch_decode_keeps_input_order_and_row_reasons() -> None:
    blobs: list[bytes | None] = []
    for k in range(40):
        if k % 9 == 4:
            blobs.append(b"not an image")
        elif k % 13 == 7:
            blobs.append(None)
        else:
            blobs.append(_encode(_photo((64 + 8 * k, 48 + 4 * k), seed=k), quality=80))
    column = pa.array([None if b is None else {"bytes": b, "path": None} for b in blobs], type=IMAGE_TYPE)
    reasons = Reasons(len(blobs))
    decoded = decode_images(column, reasons, **LIMITS)
    rows = reasons.to_arrow().to_pylist()
    for k, (blob, image) in enumerate(zip(blobs, decoded, strict=True)):
        if blob is None:
            assert image is None
            assert rows[k] == []
        elif blob == b"not an image":
            assert image is None
            assert rows[k] == ["image_undecodable"]
        else:
            assert image is not None
            assert image.size == (64 + 8 * k, 48 + 4 * k)
            assert rows[k] == []


@pytest.mark.parametrize(
    ("stages", "full"),
    [
        ([{"name": "text.stats"}], False),
        ([{"name": "dedup"}], True),
        ([{"name": "dedup", "params": {"near_image": {"from_bytes": True}}}], True),
        ([{"name": "dedup", "params": {"near_image": {"from_bytes": True}, "exact": {"image_pixels": False}}}], False),
        ([{"name": "provenance.synthetic"}], True),
        ([{"name": "provenance.synthetic", "params": {"watermark": False}}], False),
    ],
)
def test_stages_declare_whether_they_need_full_images(stages: list[dict[str, Any]], full: bool) -> None:
    assert parse_config({"stages": stages}).needs_full_images() is full


def test_the_shipped_default_config_decodes_in_full() -> None:
    assert load_config(None).needs_full_images() is True


def test_dedup_decides_the_same_with_reduced_validation(
    tmp_path: Path, write_parquet: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pictures = [_photo((640, 480), seed=k) for k in range(6)]
    blobs = [_encode(p, quality=90) for p in pictures]
    blobs += [_encode(pictures[0], quality=60), _encode(pictures[1].resize((480, 360))), blobs[2][: len(blobs[2]) // 2]]
    ids = [f"i{k}" for k in range(len(blobs))]
    path = write_parquet("images.parquet", {"id": ids, "image": pa.array(blobs, pa.binary())})
    stage = "stages=[{name: dedup, params: {near_image: {from_bytes: true}, exact: {image_pixels: false}}}]"
    rule = "policy.rules=[{when: 'dup_kind not_null'}]"
    run_inputs([path], tmp_path / "reduced", stage, rule)
    from datahygiene.core.config import RunConfig

    monkeypatch.setattr(RunConfig, "needs_full_images", lambda self: True)
    run_inputs([path], tmp_path / "full", stage, rule)
    reduced, full = rows_by_id(tmp_path / "reduced"), rows_by_id(tmp_path / "full")
    columns = ("route", "reject_reasons", "dup_of", "dup_kind", "dup_similarity")
    assert {k: [r[c] for c in columns] for k, r in reduced.items()} == {
        k: [r[c] for c in columns] for k, r in full.items()
    }
    assert reduced["i6"]["dup_of"] == "i0"
    assert reduced["i7"]["dup_of"] == "i1"
    assert reduced["i8"]["reject_reasons"] == ["image_truncated"]
