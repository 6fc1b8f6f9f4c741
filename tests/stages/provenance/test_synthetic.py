"""provenance.synthetic on inputs built in code: every kind of signal, and none on clean photographs."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from datahygiene.core import columns as C
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import Batch, StageContext
from datahygiene.io.decode import decode_images
from datahygiene.stages.provenance.phrases import DEFAULT_GENERATORS, PhraseMatcher, expand
from datahygiene.stages.provenance.synthetic import DEFAULT_PAYLOADS, SyntheticParams, SyntheticStage
from datahygiene.stages.rights.samples import c2pa_jpeg, exif_jpeg, xmp_jpeg, xmp_packet
from tests.conftest import jpeg_bytes
from tests.stages.provenance.builders import (
    A1111_PARAMETERS,
    CAPTIONS_AI,
    CAPTIONS_CLEAN,
    clean_photographs,
    encode,
    generator_pngs,
    png_with_text,
    textured,
    watermarked,
)

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _stage(**params: Any) -> SyntheticStage:
    return SyntheticStage(SyntheticParams.model_validate(params), StageContext(offline=True))


def _tag(images: list[bytes | None], texts: list[str | None] | None = None, **params: Any) -> list[dict[str, Any]]:
    """Run the stage on one batch the way the runner builds it; one dict of signals and evidence per row."""
    n = len(images)
    image_column = pa.array(
        [None if data is None else {"bytes": data, "path": None} for data in images], type=C.IMAGE_TYPE
    )
    records = pa.RecordBatch.from_pydict(
        {"id": [str(i) for i in range(n)], "text": texts or [None] * n, "image": image_column}
    )
    decoded = decode_images(image_column, Reasons(n), max_pixels=10**8, max_bytes=1 << 26)
    out = _stage(**params).process(Batch(records=records, images=decoded))
    assert set(out) == {"synthetic_signals", "synthetic_evidence"}
    signals, evidence = out["synthetic_signals"].to_pylist(), out["synthetic_evidence"].to_pylist()
    assert None not in signals
    assert None not in evidence
    return [{"signals": s, "evidence": e} for s, e in zip(signals, evidence, strict=True)]


def test_generator_text_chunks_in_pngs() -> None:
    pngs = generator_pngs()
    rows = dict(zip(pngs, _tag(list(pngs.values())), strict=True))
    assert rows["a1111"]["signals"] == ["generation_parameters"]
    assert "Steps: 20, Sampler: Euler a" in rows["a1111"]["evidence"][0]
    assert rows["a1111"]["evidence"][0].startswith("generation_parameters: png:parameters ")
    assert rows["comfyui"]["signals"] == ["generation_parameters"]
    assert [e.split(" ")[1] for e in rows["comfyui"]["evidence"]] == ["png:prompt", "png:workflow"]
    assert rows["novelai"]["signals"] == ["generation_parameters", "generator_software"]
    assert "generator_software: png:Software 'NovelAI'" in rows["novelai"]["evidence"]
    assert "generator_software: png:Source 'Stable Diffusion XL C1E1DE52'" in rows["novelai"]["evidence"]
    assert rows["invokeai"]["signals"] == ["generation_parameters"]


def test_text_chunks_that_are_not_generator_metadata() -> None:
    rows = _tag(
        [
            png_with_text({"parameters": "gamma=2.2; exposure=+0.3"}),  # a key named parameters, no A1111 block
            png_with_text({"prompt": "Tell me a story"}),  # not ComfyUI JSON
            png_with_text({"workflow": '{"steps": ["crop", "resize"]}'}),  # JSON, but no node graph
            png_with_text({"Software": "GIMP 2.10.36", "Comment": "Seed: planted in spring"}),
            png_with_text({"Description": "A photo of Stable Diffusion researchers at a conference"}),
        ]
    )
    assert [row["signals"] for row in rows] == [[]] * 5


def test_exif_and_xmp_fields() -> None:
    rows = _tag(
        [
            exif_jpeg(user_comment=A1111_PARAMETERS),  # A1111 writes JPEG/WebP parameters to UserComment
            exif_jpeg(software="Midjourney v6"),
            exif_jpeg("Jane Doe", "(c) Jane", software="Adobe Photoshop 25.0 (Windows)"),
            xmp_jpeg(xmp_packet(xmp_CreatorTool="Adobe Firefly Image 3")),
            xmp_jpeg(xmp_packet(Iptc4xmpExt_DigitalSourceType=AI_SOURCE, photoshop_Credit="Made with Google AI")),
            xmp_jpeg(xmp_packet(dc_description="AI-generated illustration of a lighthouse")),
            xmp_jpeg(
                xmp_packet(
                    Iptc4xmpExt_DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
                )
            ),
        ]
    )
    assert [row["signals"] for row in rows] == [
        ["generation_parameters"],
        ["generator_software"],
        [],
        ["generator_software"],
        ["digital_source_type", "metadata_disclosure"],
        ["metadata_disclosure"],
        [],
    ]
    assert rows[0]["evidence"][0].startswith("generation_parameters: exif:UserComment ")
    assert rows[4]["evidence"] == [
        "digital_source_type: XMP Iptc4xmpExt:DigitalSourceType trainedAlgorithmicMedia",
        "metadata_disclosure: xmp:photoshop:Credit says 'Made with Google AI'",
    ]


def test_c2pa_signed_with_an_ai_digital_source_type() -> None:
    """Signed offline with a throwaway CA (datahygiene/rights/samples.py); the generator claim is checked by name."""
    ai = c2pa_jpeg(source_type=AI_SOURCE)
    composite = c2pa_jpeg(source_type=AI_SOURCE.replace("trained", "compositeWithTrained"))
    camera = c2pa_jpeg()
    rows = _tag([ai, composite, camera])
    assert rows[0]["signals"] == ["c2pa"]
    assert rows[0]["evidence"][0].startswith("c2pa: digitalSourceType trainedAlgorithmicMedia, validation ")
    assert rows[1]["signals"] == ["c2pa"]
    assert "compositeWithTrainedAlgorithmicMedia" in rows[1]["evidence"][0]
    assert rows[2]["signals"] == []  # digitalCapture: a camera claim
    named = _tag([ai, camera], generators=[*DEFAULT_GENERATORS, "Example Diffusion"])
    assert named[0]["signals"] == ["c2pa", "c2pa_generator"]
    assert "c2pa_generator: 'Example Diffusion 2.1' names 'Example Diffusion'" in named[0]["evidence"][1]
    assert named[1]["signals"] == []
    assert _tag([ai], c2pa=False)[0]["signals"] == []


def test_watermarked_image_in_a_batch() -> None:
    marked = encode(watermarked(textured(), DEFAULT_PAYLOADS[2].payload()))
    rows = _tag([marked, encode(textured()), jpeg_bytes()])
    assert rows[0]["signals"] == ["watermark"]
    assert rows[0]["evidence"][0].startswith("watermark: stable-diffusion-xl (0/48 bits differ, tolerance 7, BGR")
    assert rows[1]["signals"] == rows[2]["signals"] == []
    assert _tag([marked], watermark=False)[0]["signals"] == []


def test_caption_disclosure_phrases() -> None:
    texts: list[str | None] = [*CAPTIONS_AI, *CAPTIONS_CLEAN]
    rows = _tag([None] * len(texts), texts)
    flagged = [row["signals"] == ["caption"] for row in rows]
    assert flagged == [True] * len(CAPTIONS_AI) + [False] * len(CAPTIONS_CLEAN)
    assert rows[3]["evidence"] == ["caption: text says 'made with Midjourney'"]
    assert rows[4]["evidence"] == ["caption: text says 'generated by DALL-E'"]
    custom = _tag([None, None], ["made by a robot", "AI-generated"], caption_phrases=["made by a robot"])
    assert [row["signals"] for row in custom] == [["caption"], []]


def test_phrase_matching_is_word_bounded_and_separator_tolerant() -> None:
    matcher = PhraseMatcher(expand(["made with {generator}", "AI-generated", "#aiart"], ["DALL-E", "Stable Diffusion"]))
    assert matcher.phrases == ["made with DALL-E", "made with Stable Diffusion", "AI-generated", "#aiart"]
    assert matcher.find("MADE WITH DALLE") == ["made with DALL-E"]
    assert matcher.find("made-with-stable_diffusion") == ["made with Stable Diffusion"]
    assert matcher.find("it was AI\u2011generated") == ["AI-generated"]
    assert matcher.find("#AIART and #aiartwork") == ["#aiart"]
    assert matcher.find("#aiartwork only") == []
    assert matcher.find("HAIR-generated") == []


def test_clean_photographs_produce_no_signal() -> None:
    paths = clean_photographs()
    assert len(paths) >= 10
    rows = _tag([path.read_bytes() for path in paths], [f"photo {path.stem}" for path in paths])
    assert {path.name: row["signals"] for path, row in zip(paths, rows, strict=True) if row["signals"]} == {}


def test_every_row_gets_both_columns() -> None:
    rows = _tag([None, b"not an image", png_with_text({"parameters": A1111_PARAMETERS})], [None, "#aiart", None])
    assert [row["signals"] for row in rows] == [[], ["caption"], ["generation_parameters"]]


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        SyntheticParams.model_validate({"watermark_payloads": [{"name": "x"}]})
    with pytest.raises(ValidationError):
        SyntheticParams.model_validate({"watermark_channel_orders": ["bgra"]})
    custom = _stage(watermark_payloads=[{"name": "mine", "text": "hello"}], watermark_false_match=1e-3)
    assert custom.tolerance == {"mine": 9}  # P(<= 9 of 40 bits) = 3.2e-4, P(<= 10) = 1.1e-3
    description = custom.describe()
    assert description["watermark_payloads"] == {"mine": "<= 9 bit errors"}
    assert description["invisible_watermark"] == "0.2.0"


def test_combined_phrase_expression_agrees_with_each_phrase() -> None:
    """The word-trie expression finds a text exactly when one of the single-phrase expressions does."""
    matcher = PhraseMatcher(expand(SyntheticParams().caption_phrases, DEFAULT_GENERATORS))
    assert len(matcher.phrases) > 300
    for phrase in matcher.phrases:
        assert phrase in matcher.find(f"look: {phrase.upper()}!"), phrase
        assert phrase not in matcher.find(f"{phrase}x"), phrase  # never inside a longer word
    edge_cases = ["made with", "made with stable", "#ai art", "a made-with-ai-art"]
    texts = [*CAPTIONS_AI, *(t for t in CAPTIONS_CLEAN if t), *edge_cases]
    for text in texts:
        assert (matcher.first(text) is not None) == bool(matcher.find(text)), text
