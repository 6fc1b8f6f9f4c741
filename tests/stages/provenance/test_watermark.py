"""The DWT-DCT watermark reader against invisible-watermark itself, the environment it needs, and its limits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from datahygiene.core.stage import StageContext
from datahygiene.stages.provenance.synthetic import DEFAULT_PAYLOADS, SyntheticParams, SyntheticStage, tolerated_errors
from datahygiene.stages.provenance.watermark import (
    MIN_PIXELS,
    ChannelOrder,
    Payload,
    WatermarkReader,
    block_bits,
    chroma_subsampling,
    fold,
    to_bgr,
)
from tests.stages.provenance.builders import clean_photographs, encode, graphics, textured, watermarked

PAYLOADS = [spec.payload() for spec in DEFAULT_PAYLOADS]


def _reader(**options: object) -> WatermarkReader:
    stage = SyntheticStage(SyntheticParams.model_validate(options), StageContext())
    return stage.watermarks


def test_environment_keeps_one_opencv_4_with_cascades_and_imports_imwatermark() -> None:
    """invisible-watermark is installed --no-deps (scripts/setup.sh): OpenCV stays the headless 4.x build."""
    import cv2
    import imwatermark

    assert int(cv2.__version__.split(".")[0]) == 4
    assert hasattr(cv2, "CascadeClassifier")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    assert not cascade.empty()
    assert hasattr(imwatermark, "WatermarkDecoder")


def test_fast_decoder_agrees_with_imwatermark_bit_for_bit() -> None:
    from imwatermark import WatermarkDecoder

    photo = Image.open(clean_photographs()[0]).convert("RGB")
    images = [photo, textured((517, 389), seed=3), watermarked(textured(), PAYLOADS[0])]
    orders: tuple[ChannelOrder, ...] = ("bgr", "rgb")
    for image in images:
        for order in orders:
            bgr = to_bgr(image, order)
            bits = block_bits(bgr)
            assert np.array_equal(block_bits(image, order), bits)  # straight from the RGB pixels, no flip
            for length in (32, 48, 136):
                reference = np.asarray(WatermarkDecoder("bits", length).decode(bgr, "dwtDct"), dtype=bool)
                assert np.array_equal(fold(bits, length), reference), (image.size, order, length)


def test_tolerance_follows_the_chance_of_a_random_match() -> None:
    assert tolerated_errors(32, 1e-6) == 2  # P(<=2 of 32) = 1.2e-7, P(<=3) = 1.3e-6
    assert tolerated_errors(48, 1e-6) == 7
    assert tolerated_errors(136, 1e-6) == 40
    assert tolerated_errors(136, 1e-9) < tolerated_errors(136, 1e-6)


@pytest.mark.parametrize("decoder", ["fast", "imwatermark"])
@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_every_default_payload_is_found_in_a_png(order: str, decoder: str) -> None:
    reader = _reader(watermark_decoder=decoder)
    base = textured()
    for payload in PAYLOADS:
        marked = Image.open(io.BytesIO(encode(watermarked(base, payload, order)))).convert("RGB")  # type: ignore[arg-type]
        found = reader.find(marked)
        assert [m.payload for m in found] == [payload.name]
        assert found[0].channel_order == order
        assert found[0].bit_errors <= reader.tolerance[payload.name]
    assert reader.find(base) == []


def test_jpeg_recompression_survival_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Asserted: the mark decodes from the PNG. Reported, not asserted: the JPEG quality at which it is lost."""
    reader = _reader()
    base = textured(seed=1)
    survived: dict[str, list[int]] = {}
    for payload in PAYLOADS:
        marked = watermarked(base, payload)
        assert reader.find(Image.open(io.BytesIO(encode(marked))).convert("RGB"))
        survived[payload.name] = [
            quality
            for quality in (100, 98, 95, 90, 80, 70, 50)
            if reader.find(Image.open(io.BytesIO(encode(marked, "JPEG", quality=quality))))
        ]
    with capsys.disabled():
        print(f"\nwatermark survives JPEG at qualities: {survived}")


def test_sizes_outside_the_marked_range_are_not_decoded() -> None:
    reader = _reader(watermark_max_pixels=600 * 600)
    small = watermarked(textured((256, 256)), PAYLOADS[1])
    assert small.width * small.height == MIN_PIXELS
    assert reader.find(small)
    assert reader.find(small.crop((0, 0, 256, 255))) == []  # under imwatermark's 256x256 minimum
    large = watermarked(textured((640, 640)), PAYLOADS[1])
    assert reader.find(large) == []
    assert _reader().find(large)


def test_jpeg_chroma_restoration() -> None:
    """Undoing the decoder's chroma upsampling recovers a mark that plain decoding of a q100 4:2:0 JPEG misses."""
    marked = encode(watermarked(textured(seed=2), PAYLOADS[1]), "JPEG", quality=100)
    assert chroma_subsampling(Image.open(io.BytesIO(marked))) == (2, 2)
    assert _reader(watermark_jpeg_chroma=False).find(Image.open(io.BytesIO(marked))) == []
    (found,) = _reader().find(Image.open(io.BytesIO(marked)))
    assert (found.payload, found.jpeg_chroma) == (PAYLOADS[1].name, True)
    assert _reader().find(Image.open(io.BytesIO(marked)).convert("RGB")) == []  # converted: no longer known as JPEG
    base = textured()
    assert [chroma_subsampling(Image.open(io.BytesIO(encode(base, "JPEG", subsampling=s)))) for s in (0, 1, 2)] == [
        (1, 1),
        (1, 2),
        (2, 2),
    ]
    assert chroma_subsampling(Image.open(io.BytesIO(encode(base)))) == (1, 1)


def test_clean_photographs_decode_to_no_payload() -> None:
    reader = _reader()
    subsampled = 0
    for path in clean_photographs():
        photo = Image.open(path)  # the JPEG as decoded, so the chroma-restored reading runs on 4:2:x files
        subsampled += chroma_subsampling(photo) != (1, 1)
        rgb = photo.convert("RGB")
        for variant in (photo, rgb.resize((512, 512)), rgb.resize((1024, 768))):
            assert reader.find(variant) == [], path.name
    assert subsampled >= 10


def test_flat_graphics_decode_to_no_payload() -> None:
    """Flat images decode to (nearly) all-zero bits; no default payload is close to that."""
    reader = _reader()
    for image in graphics():
        assert reader.find(image) == []
        assert reader.find(Image.open(io.BytesIO(encode(image, "JPEG", quality=90)))) == []


def test_payload_forms() -> None:
    assert Payload.from_text("x", "SDV2").bits.tolist()[:8] == [False, True, False, True, False, False, True, True]
    assert Payload.from_bit_string("x", "101").bits.tolist() == [True, False, True]
    with pytest.raises(ValueError, match="0 and 1"):
        Payload.from_bit_string("x", "10a")
