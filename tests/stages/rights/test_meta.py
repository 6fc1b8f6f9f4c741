"""The metadata reader: every container it claims, garbage in, no pixel decoding."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pytest
from PIL import Image, TiffImagePlugin

from datahygiene.core.stage import Batch
from datahygiene.io.meta import ARTIFACT_KEY, batch_metadata, parse_iptc, parse_xmp, read_metadata
from datahygiene.stages.rights.samples import c2pa_jpeg, exif_jpeg, iptc_jpeg, png_text, xmp_jpeg, xmp_packet
from tests.conftest import eval_data_dir, jpeg_bytes, png_bytes


def test_exif_rights_fields() -> None:
    data = exif_jpeg("Jane Doe", "(c) 2021 Jane Doe", software="Adobe Photoshop 25.0", user_comment="shot for Acme")
    meta = read_metadata(data)
    assert meta.format == "JPEG"
    assert meta.exif == {
        "Artist": "Jane Doe",
        "Copyright": "(c) 2021 Jane Doe",
        "Software": "Adobe Photoshop 25.0",
        "UserComment": "shot for Acme",
    }
    assert ("exif:Copyright", "(c) 2021 Jane Doe") in list(meta.fields())
    assert meta.errors == []
    assert meta.c2pa is None


def test_xmp_rights_and_source_type() -> None:
    packet = xmp_packet(
        dc_rights="© 2020 Example Photo Ltd",
        dc_creator="John Smith",
        xmpRights_Marked="True",
        xmpRights_WebStatement="https://example.com/licence",
        photoshop_Credit="Getty Images",
        Iptc4xmpExt_DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        xmp_CreatorTool="Midjourney",
    )
    meta = read_metadata(xmp_jpeg(packet))
    assert meta.xmp["dc:rights"] == ["© 2020 Example Photo Ltd"]
    assert meta.xmp["dc:creator"] == ["John Smith"]
    assert meta.xmp["xmpRights:Marked"] == ["True"]
    assert meta.xmp["photoshop:Credit"] == ["Getty Images"]
    assert meta.xmp["xmp:CreatorTool"] == ["Midjourney"]
    assert meta.xmp["Iptc4xmpExt:DigitalSourceType"][0].endswith("trainedAlgorithmicMedia")


def test_xmp_nested_plus_licensor_and_refusals() -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"><plus:Licensor><rdf:Seq>'
        '<rdf:li rdf:parseType="Resource"><plus:LicensorName>Alamy Ltd</plus:LicensorName></rdf:li>'
        "</rdf:Seq></plus:Licensor></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert parse_xmp(packet)["plus:LicensorName"] == ["Alamy Ltd"]
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    with pytest.raises(ValueError, match="DOCTYPE"):
        parse_xmp(bomb)


def test_iptc_iim_in_photoshop_segment() -> None:
    data = iptc_jpeg({(2, 116): "Copyright 2019 AP", (2, 80): "Ann Photographer", (2, 110): "AP Photo"})
    meta = read_metadata(data)
    assert meta.iptc == {
        "CopyrightNotice": ["Copyright 2019 AP"],
        "By-line": ["Ann Photographer"],
        "Credit": ["AP Photo"],
    }
    with pytest.raises(ValueError, match="past the block"):
        parse_iptc(b"\x1c\x02\x74\x00\xff short")


def test_png_text_chunks_all_kinds() -> None:
    data = png_text(
        {"parameters": "a cat, Steps: 20, Sampler: Euler a", "Software": "ComfyUI"},
        compressed={"prompt": '{"3": {"class_type": "KSampler"}}'},
        itxt={"Copyright": "© 2024 Ünïcode Studio"},
    )
    meta = read_metadata(data)
    assert meta.png_text == {
        "parameters": "a cat, Steps: 20, Sampler: Euler a",
        "Software": "ComfyUI",
        "prompt": '{"3": {"class_type": "KSampler"}}',
        "Copyright": "© 2024 Ünïcode Studio",
    }


def test_png_xmp_goes_to_xmp_not_text() -> None:
    packet = xmp_packet(dc_rights="All rights reserved").decode()
    meta = read_metadata(png_text({}, itxt={"XML:com.adobe.xmp": packet}))
    assert meta.xmp["dc:rights"] == ["All rights reserved"]
    assert meta.png_text == {}


def test_tiff_webp_and_comments() -> None:
    packet = xmp_packet(dc_rights="© 2020 T")
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[700] = packet
    tags.tagtype[700] = 1  # BYTE
    tags[0x8298] = "(c) tiff owner"
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, "TIFF", tiffinfo=tags)
    meta = read_metadata(tiff.getvalue())
    assert (meta.format, meta.exif, meta.xmp) == ("TIFF", {"Copyright": "(c) tiff owner"}, {"dc:rights": ["© 2020 T"]})
    exif = Image.Exif()
    exif[0x013B] = "Webp Artist"
    webp = io.BytesIO()
    Image.new("RGB", (8, 8)).save(webp, "WEBP", exif=exif.tobytes(), xmp=packet)
    meta = read_metadata(webp.getvalue())
    assert (meta.exif, meta.xmp) == ({"Artist": "Webp Artist"}, {"dc:rights": ["© 2020 T"]})
    commented = io.BytesIO()
    Image.new("RGB", (8, 8)).save(commented, "JPEG", comment="Photo (c) 2020 Studio")
    assert list(read_metadata(commented.getvalue()).fields()) == [("comment", "Photo (c) 2020 Studio")]


def test_no_pixel_decoding() -> None:
    data = exif_jpeg("Jane", "(c) Jane")
    with mock.patch.object(Image.Image, "load", side_effect=AssertionError("decoded pixels")):
        assert read_metadata(data).exif["Artist"] == "Jane"


def test_decoded_image_input() -> None:
    image = Image.open(io.BytesIO(exif_jpeg("Jane Doe", "(c) Jane Doe")))
    image.load()
    assert read_metadata(image=image).exif["Copyright"] == "(c) Jane Doe"


def test_c2pa_signed_training_mining_and_source_type() -> None:
    data = c2pa_jpeg(
        {"c2pa.ai_generative_training": "notAllowed", "c2pa.data_mining": "constrained", "c2pa.search": "allowed"},
        source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    )
    meta = read_metadata(data)
    assert meta.errors == []
    info = meta.c2pa
    assert info is not None
    assert info.training_mining == {
        "c2pa.ai_generative_training": "notAllowed",
        "c2pa.data_mining": "constrained",
        "c2pa.search": "allowed",
    }
    assert info.constraints == {"c2pa.data_mining": "licence required"}
    assert info.digital_source_types == ("http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",)
    assert "Example Diffusion 2.1" in info.software_agents
    assert any(name.startswith("datahygiene-tests") for name in info.claim_generators)
    assert info.validation_state in ("Valid", "Trusted", "Invalid")
    assert read_metadata(data, c2pa=False).c2pa is None
    edited = bytearray(data)
    edited[-20] ^= 0xFF
    failures = (*info.validation_failures, "assertion.dataHash.mismatch")
    assert read_metadata(bytes(edited)).c2pa == replace(info, validation_state="Invalid", validation_failures=failures)


def test_broken_c2pa_is_an_error_not_an_exception() -> None:
    data = c2pa_jpeg({"c2pa.ai_training": "notAllowed"})
    marker = data.find(b"c2pa")
    damaged = data[: marker + 40] + bytes(200) + data[marker + 240 :]
    meta = read_metadata(damaged)
    assert meta.c2pa is not None  # a store is there but cannot be read: recorded as such, not as "no manifest"
    assert meta.c2pa.read_error is not None
    assert meta.c2pa.read_error.startswith("c2pa: ")
    assert meta.c2pa.training_mining == {}
    assert any(error.startswith("c2pa: ") for error in meta.errors)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\x00\x00\x00\x08",
        b"\x89PNG\r\n\x1a\n\x00\x00\x10\x00tEXt",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x05zTXtk\x00\x00xx\x00\x00\x00\x00",
        b"jumb c2pa garbage",
    ],
)
def test_garbage_never_raises(data: bytes) -> None:
    meta = read_metadata(data)
    assert meta.empty
    assert meta.errors


def test_fuzzed_bytes_never_raise() -> None:
    rng = random.Random(4)
    seeds = [exif_jpeg("A", "(c) A"), png_text({"parameters": "x"}), xmp_jpeg(xmp_packet(dc_rights="r"))]
    for seed in seeds:
        for _ in range(60):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 12)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            read_metadata(bytes(data[: rng.randint(1, len(data))]))


def test_plain_images_have_no_metadata() -> None:
    assert read_metadata(jpeg_bytes()).empty
    assert read_metadata(png_bytes()).empty


def test_real_photographs_read_cleanly() -> None:
    root = eval_data_dir()
    assert root is not None, "shared eval data missing"
    photos = sorted((root / "near-dup-images").glob("*.jpg"))
    assert photos
    for path in photos:
        meta = read_metadata(Path(path).read_bytes())
        assert meta.c2pa is None
        assert not meta.xmp.get("dc:rights")
        assert "Copyright" not in meta.exif


def test_batch_metadata_cached() -> None:
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    images = pa.array([{"bytes": exif_jpeg("A", "(c) A"), "path": None}, None], image_type)
    batch = Batch(records=pa.RecordBatch.from_arrays([images], names=["image"]))
    first = batch_metadata(batch, c2pa=False)
    assert first[0] is not None
    assert first[0].exif["Artist"] == "A"
    assert first[1] is None
    assert batch.artifacts[ARTIFACT_KEY][0] is False
    second = batch_metadata(batch)  # asks for C2PA too: re-read, then cached for everyone
    assert second is not first
    assert batch_metadata(batch, c2pa=False) is second


def test_user_comment_with_newlines_in_either_utf16_byte_order() -> None:
    """A1111's parameters block (multi-line) reads back whatever byte order the writer used."""
    text = "a fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a"
    for encoding in ("utf-16-le", "utf-16-be"):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode(encoding)
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, "JPEG", exif=exif.tobytes())
        assert read_metadata(buffer.getvalue()).exif["UserComment"] == text, encoding
