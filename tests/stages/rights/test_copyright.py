"""``rights.copyright``: every signal from inputs built in code, evidence for each, silence on clean rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pv
import pytest

from datahygiene.core import columns as C
from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.rights.copyright import CopyrightParams, CopyrightStage
from datahygiene.stages.rights.licenses import LicenseParser
from datahygiene.stages.rights.samples import c2pa_jpeg, exif_jpeg, iptc_jpeg, png_text, xmp_jpeg, xmp_packet
from tests.conftest import eval_data_dir, jpeg_bytes


@pytest.fixture(scope="module")
def stage() -> CopyrightStage:
    return CopyrightStage(CopyrightParams(), StageContext(offline=True))


def _run(stage: CopyrightStage, **columns: list[Any]) -> list[tuple[list[str], list[dict[str, str]]]]:
    arrays: dict[str, pa.Array] = {}
    for name, values in columns.items():
        if name == "image":
            payloads = [None if v is None else {"bytes": v, "path": None} for v in values]
            arrays[name] = pa.array(payloads, C.IMAGE_TYPE)
        elif name == "watermark":
            arrays[name] = pa.array(values, pa.float32())
        else:
            arrays[name] = pa.array(values)
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict(arrays)))
    return list(zip(out["copyright_signals"].to_pylist(), out["copyright_evidence"].to_pylist(), strict=True))


def _signals(stage: CopyrightStage, **columns: list[Any]) -> list[list[str]]:
    return [signals for signals, _ in _run(stage, **columns)]


# -- text notices and agency credits ------------------------------------------------------------

TEXT_SIGNALS = [
    ("Sunset over the harbour. © 2021 Jane Doe", "notice", "© 2021 Jane Doe"),
    ("©Acme Corp", "notice", "©Acme Corp"),
    ("Photo (c) 2019 Studio Nine", "notice", "(c) 2019 Studio Nine"),
    ("Copyright 2021 Example Ltd, London", "notice", "Copyright 2021 Example Ltd, London"),
    ("copyright by the author", "notice", "copyright by the author"),
    ("Text and images: all rights reserved.", "notice", "all rights reserved."),
    ("Reproduced by kind permission of the museum", "notice", "Reproduced by kind permission of the museum"),
    ("This image may not be reproduced without consent", "notice", "may not be reproduced without consent"),
    ("FOR EDITORIAL USE ONLY", "notice", "FOR EDITORIAL USE ONLY"),
    ("Photo: Studio Lumière, tous droits réservés", "notice", "tous droits réservés"),
    ("Alle Rechte vorbehalten.", "notice", "Alle Rechte vorbehalten."),
    ("东方明珠夜景 版权所有", "notice", "版权所有"),
    ("夜景の写真 無断転載禁止", "notice", "無断転載禁止"),
    ("A street at night. Photo: Getty Images", "agency_credit", "Getty Images"),
    ("Stock photo ID 12345 | Shutterstock", "agency_credit", "Shutterstock"),
    ("Harbour at dawn - Alamy Stock Photo", "agency_credit", "Alamy Stock Photo"),
    ("Fans cheer in the stadium. (AP Photo/John Smith)", "agency_credit", "AP Photo"),
    ("The president speaks. REUTERS/Jane Roe", "agency_credit", "REUTERS/"),
    ("Protesters march. AFP via Getty Images", "agency_credit", "AFP via"),
    ("Flooded streets. Photo: Associated Press", "agency_credit", "Photo: Associated Press"),
    ("Crowds in the square. Xinhua/Li Wei", "agency_credit", "Xinhua/"),
]


@pytest.mark.parametrize(("text", "signal", "evidence"), TEXT_SIGNALS)
def test_text_notices_and_agency_credits(stage: CopyrightStage, text: str, signal: str, evidence: str) -> None:
    [(signals, found)] = _run(stage, text=[text])
    assert signal in signals
    assert {"signal": signal, "source": "text", "value": evidence} in found
    if signal == "notice":
        assert signals == ["notice"]
        assert found[0]["value"] == evidence


PLAIN = [
    "a cat sitting on a windowsill in the sun",
    "Options (a), (b), (c) and (d) are all valid answers.",
    "Copyright law differs between countries; fair use is one exception.",
    "The CEO said the team had a great year.",
    "An apple pie, cooling on the kitchen table",
    "Photographed by my grandmother in 1972",
    "We went to the ap exam and the afp meeting",
    "map of the getty center gardens",
    "The Associated Press reported that talks resumed on Monday, Xinhua said.",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_captions_give_no_signal(stage: CopyrightStage, text: str) -> None:
    assert _run(stage, text=[text]) == [([], [])]


# -- licences -------------------------------------------------------------------------------------

LICENSES = [
    ("CC0", "CC0-1.0", []),
    ("cc0-1.0", "CC0-1.0", []),
    ("Public Domain", "LicenseRef-PublicDomain", []),
    ("CC BY 4.0", "CC-BY-4.0", []),
    ("CC-BY-SA-3.0", "CC-BY-SA-3.0", []),
    ("Creative Commons Attribution-ShareAlike 4.0 International", "CC-BY-SA-4.0", []),
    ("MIT", "MIT", []),
    ("Apache License, Version 2.0", "Apache-2.0", []),
    ("BSD-3-Clause", "BSD-3-Clause", []),
    ("GPL-3.0-or-later", "GPL-3.0", []),
    ("https://opensource.org/licenses/MIT", "MIT", []),
    ("Copyright (c) 2020 X. Licensed under the MIT License.", "MIT", []),
    ("CC BY-NC 4.0", "CC-BY-NC-4.0", ["license:nc"]),
    ("by-nc-sa", "CC-BY-NC-SA", ["license:nc"]),
    ("CC BY-ND 2.0", "CC-BY-ND-2.0", ["license:nd"]),
    ("Attribution-NonCommercial-NoDerivatives 4.0 International", "CC-BY-NC-ND-4.0", ["license:nc", "license:nd"]),
    ("https://creativecommons.org/licenses/by-nc/4.0/", "CC-BY-NC-4.0", ["license:nc"]),
    ("http://creativecommons.org/licenses/by-nd/3.0/deed.en", "CC-BY-ND-3.0", ["license:nd"]),
    ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", []),
    ("All rights reserved", "LicenseRef-Proprietary", ["license:proprietary"]),
    ("Royalty-free", "LicenseRef-Proprietary", ["license:proprietary"]),
    ("Rights managed", "LicenseRef-Proprietary", ["license:proprietary"]),
    ("© 2020 Example Stock", "LicenseRef-Proprietary", ["license:proprietary"]),
    ("research use only", "LicenseRef-NonCommercial", ["license:nc"]),
    ("unknown", "LicenseRef-Unknown", ["license:unknown"]),
    ("see website", "LicenseRef-Unknown", ["license:unknown"]),
    ("Frobnicator Public Licence v7", "LicenseRef-Unknown", ["license:unknown"]),
]


@pytest.mark.parametrize(("value", "spdx", "expected"), LICENSES)
def test_licence_table(stage: CopyrightStage, value: str, spdx: str, expected: list[str]) -> None:
    parsed = LicenseParser().parse(value)
    assert parsed is not None
    assert parsed.id == spdx
    [(signals, found)] = _run(stage, license=[value])
    assert signals == expected
    for entry in found:
        assert entry["source"] == "license"
        assert entry["value"].endswith(f"-> {spdx}")


def test_missing_licence_gives_no_signal(stage: CopyrightStage) -> None:
    assert _signals(stage, license=[None, "", "  "]) == [[], [], []]


def test_user_licence_table_is_tried_first(tmp_path: Path) -> None:
    table = tmp_path / "licenses.yaml"
    table.write_text("- {id: LicenseRef-Acme-Internal, flags: [proprietary], patterns: ['acme internal( v\\d)?']}\n")
    custom = CopyrightStage(CopyrightParams(license_files=[table]), StageContext())
    assert _signals(custom, license=["Acme Internal v2", "MIT"]) == [["license:proprietary"], []]


# -- URLs: stock sources and do-not-train ----------------------------------------------------------

URLS = [
    ("https://media.gettyimages.com/photos/harbour.jpg", ["stock_source"]),
    ("https://www.shutterstock.com/image-photo/5", ["stock_source"]),
    ("http://c8.alamy.com/comp/ABC/x.jpg", ["stock_source"]),
    ("https://t3.ftcdn.net/jpg/01/02/x.jpg", ["stock_source"]),
    ("https://stock.adobe.com/images/x", ["stock_source"]),
    ("https://www.adobe.com/products/photoshop.html", []),
    ("https://notgettyimages.com/x.jpg", []),
    ("https://gettyimages.com.example.org/x.jpg", []),
    ("https://example.org/gettyimages.com/x.jpg", []),
    ("not a url", []),
]


@pytest.mark.parametrize(("url", "expected"), URLS)
def test_stock_domains(stage: CopyrightStage, url: str, expected: list[str]) -> None:
    [(signals, found)] = _run(stage, url=[url])
    assert signals == expected
    if expected:
        assert found[0]["source"] == "url"


def test_large_string_columns(stage: CopyrightStage) -> None:
    records = pa.RecordBatch.from_pydict(
        {
            "text": pa.array(["© 2020 X", None], pa.large_string()),
            "url": pa.array([None, "https://www.alamy.com/x"], pa.large_string()),
            "license": pa.array(["CC BY-ND", None], pa.large_string()),
        }
    )
    signals = stage.process(Batch(records=records))["copyright_signals"].to_pylist()
    assert signals == [["license:nd", "notice"], ["stock_source"]]


def test_user_stock_and_agency_files(tmp_path: Path) -> None:
    domains = tmp_path / "mine.txt"
    domains.write_text("# my agency\npics.example\n")
    agencies = tmp_path / "agencies.txt"
    agencies.write_text("Example Pictures Ltd\n")
    custom = CopyrightStage(CopyrightParams(stock_domain_files=[domains], agency_files=[agencies]), StageContext())
    out = _signals(custom, url=["https://cdn.pics.example/1.jpg", None], text=[None, "photo: example pictures ltd"])
    assert out == [["stock_source"], ["agency_credit"]]
    # the shipped lists are still there
    assert _signals(custom, url=["https://www.istockphoto.com/x"]) == [["stock_source"]]


def test_do_not_train_by_domain_url_prefix_and_hash(tmp_path: Path) -> None:
    image = jpeg_bytes(colour="green")
    text = "a private diary entry"
    listing = tmp_path / "dnt.txt"
    listing.write_text(
        "\n".join(
            [
                "# opted out",
                "artist.example",
                "https://www.gallery.example/works/42.jpg#top",
                "https://portfolio.example/private/*",
                f"sha256:{hashlib.sha256(image).hexdigest()}",
                hashlib.sha256(text.encode()).hexdigest().upper(),
            ]
        )
    )
    custom = CopyrightStage(CopyrightParams(do_not_train_files=[listing]), StageContext())
    rows = _run(
        custom,
        url=[
            "https://cdn.artist.example/a.png",
            "http://gallery.example/works/42.jpg/",
            "https://portfolio.example/private/sketch.png",
            "https://portfolio.example/public/sketch.png",
            None,
            None,
            "https://otherartist.example/a.png",
        ],
        text=[None, None, None, None, None, text, "a public note"],
        image=[None, None, None, None, image, None, None],
    )
    signals = [s for s, _ in rows]
    assert signals == [["opt_out:do_not_train"]] * 3 + [[]] + [["opt_out:do_not_train"]] * 2 + [[]]
    assert rows[0][1][0] == {
        "signal": "opt_out:do_not_train",
        "source": f"do_not_train:{listing}",
        "value": "domain artist.example",
    }
    assert rows[2][1][0]["value"] == "url prefix portfolio.example/private*"
    assert rows[4][1][0]["value"] == f"sha256:{hashlib.sha256(image).hexdigest()}"


# -- stored headers: X-Robots-Tag and TDMRep --------------------------------------------------------

HEADERS: list[tuple[Any, bool, list[str]]] = [
    ("X-Robots-Tag: noai, noimageai\r\nContent-Type: image/jpeg", False, ["opt_out:robots"]),
    ('{"x-robots-tag": "noimageai"}', True, ["opt_out:robots"]),
    ('{"X-Robots-Tag": "noimageai"}', False, []),  # an image-only opt-out does not cover a text row
    ('{"X-Robots-Tag": ["noindex", "otherbot: noai"]}', False, ["opt_out:robots"]),
    ("X-Robots-Tag: noindex, nofollow", False, []),
    ("tdm-reservation: 1\ntdm-policy: https://example.com/policy.json", False, ["opt_out:tdmrep"]),
    ("tdm-reservation: 0", False, []),
    ("garbage without structure", False, []),
    ("{not json", False, []),
]


@pytest.mark.parametrize(("headers", "with_image", "expected"), HEADERS)
def test_stored_headers(stage: CopyrightStage, headers: Any, with_image: bool, expected: list[str]) -> None:
    image = [jpeg_bytes()] if with_image else [None]
    [(signals, found)] = _run(stage, headers=[headers], image=image)
    assert signals == expected
    for entry in found:
        if entry["signal"] != "unavailable":
            assert entry["source"].startswith(("headers:", "header:"))


def test_headers_as_arrow_map_and_robots_column(stage: CopyrightStage) -> None:
    headers = pa.array([[("X-Robots-Tag", "noai")], None], pa.map_(pa.string(), pa.string()))
    records = pa.RecordBatch.from_pydict({"http_headers": headers, "x_robots_tag": pa.array([None, "NoAI"])})
    out = stage.process(Batch(records=records))
    assert out["copyright_signals"].to_pylist() == [["opt_out:robots"], ["opt_out:robots"]]
    assert out["copyright_evidence"].to_pylist()[1] == [
        {"signal": "opt_out:robots", "source": "x_robots_tag", "value": "NoAI"}
    ]


def test_headers_from_jsonl_metadata(stage: CopyrightStage) -> None:
    metadata = [json.dumps({"headers": {"X-Robots-Tag": "noai"}}), json.dumps({"source": "web"}), None]
    assert _signals(stage, metadata=metadata) == [["opt_out:robots"], [], []]


def test_tdmrep_policy_column_matches_locations(stage: CopyrightStage) -> None:
    policy = json.dumps(
        [
            {"location": "/public/*", "tdm-reservation": 0},
            {"location": "/*", "tdm-reservation": 1, "tdm-policy": "https://example.com/tdm.json"},
        ]
    )
    rows = _run(
        stage,
        url=["https://example.com/public/a.jpg", "https://example.com/shop/b.jpg", None],
        tdmrep=[policy, policy, '{"tdm-reservation": 1}'],
    )
    assert [s for s, _ in rows] == [[], ["opt_out:tdmrep"], ["opt_out:tdmrep"]]
    assert rows[1][1][0]["value"] == "location /*; tdm-policy: https://example.com/tdm.json"


# -- embedded metadata ------------------------------------------------------------------------------


def test_exif_copyright_and_artist(stage: CopyrightStage) -> None:
    [(signals, found)] = _run(stage, image=[exif_jpeg("Jane Doe", "Copyright 2021 Jane Doe")])
    assert signals == ["creator_metadata", "rights_metadata"]
    assert {"signal": "rights_metadata", "source": "exif:Copyright", "value": "Copyright 2021 Jane Doe"} in found
    assert {"signal": "creator_metadata", "source": "exif:Artist", "value": "Jane Doe"} in found


def test_xmp_rights_licences_and_data_mining(stage: CopyrightStage) -> None:
    images = [
        xmp_jpeg(xmp_packet(dc_rights="© 2020 Example Photo Ltd", xmpRights_Marked="True")),
        xmp_jpeg(xmp_packet(dc_rights="CC BY 4.0", xmpRights_Marked="False")),
        xmp_jpeg(xmp_packet(xmpRights_WebStatement="https://creativecommons.org/licenses/by-nc-nd/4.0/")),
        xmp_jpeg(xmp_packet(plus_DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING")),
        xmp_jpeg(xmp_packet(plus_DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEECONSTRAINT")),
        xmp_jpeg(xmp_packet(plus_DataMining="http://ns.useplus.org/ldf/vocab/DMI-ALLOWED")),
        xmp_jpeg(xmp_packet(photoshop_Credit="Getty Images", dc_creator="Ann Photographer")),
    ]
    rows = _run(stage, image=images)
    assert [s for s, _ in rows] == [
        ["rights_metadata"],
        [],
        ["license:nc", "license:nd"],
        ["opt_out:plus"],
        ["training_constrained:plus"],
        [],
        ["agency_credit", "creator_metadata"],
    ]
    assert {"signal": "rights_metadata", "source": "xmp:dc:rights", "value": "© 2020 Example Photo Ltd"} in rows[0][1]
    assert rows[3][1][0]["source"] == "xmp:plus:DataMining"
    assert {"signal": "agency_credit", "source": "xmp:photoshop:Credit", "value": "Getty Images"} in rows[6][1]


def test_iptc_and_png_text(stage: CopyrightStage) -> None:
    images = [
        iptc_jpeg({(2, 116): "Copyright 2019 AP", (2, 110): "AP Photo", (2, 80): "Ann Photographer"}),
        png_text({"Copyright": "All rights reserved", "parameters": "a cat, Steps: 20"}),
        png_text({"Description": "Sunset. © 2022 Studio Nine", "Software": "GIMP 2.10"}),
        png_text({"License": "CC0"}),
    ]
    rows = _run(stage, image=images)
    assert [s for s, _ in rows] == [
        ["agency_credit", "creator_metadata", "rights_metadata"],
        ["rights_metadata"],
        ["notice"],
        [],
    ]
    assert {"signal": "rights_metadata", "source": "iptc:CopyrightNotice", "value": "Copyright 2019 AP"} in rows[0][1]
    assert {"signal": "notice", "source": "png:Description", "value": "© 2022 Studio Nine"} in rows[2][1]


def test_c2pa_training_mining(stage: CopyrightStage) -> None:
    images = [
        c2pa_jpeg({"c2pa.ai_generative_training": "notAllowed", "c2pa.search": "allowed"}),
        c2pa_jpeg({"c2pa.ai_training": "constrained"}),
        c2pa_jpeg({"c2pa.ai_training": "allowed", "c2pa.ai_inference": "notAllowed"}),
    ]
    rows = _run(stage, image=images)
    assert [s for s, _ in rows] == [["opt_out:c2pa"], ["training_constrained:c2pa"], []]
    assert {
        "signal": "opt_out:c2pa",
        "source": "c2pa:training-mining",
        "value": "c2pa.ai_generative_training=notAllowed",
    } in rows[0][1]
    assert rows[1][1][0]["value"] == "c2pa.ai_training=constrained (licence required)"


def test_c2pa_opt_out_survives_edited_pixels(stage: CopyrightStage) -> None:
    edited = bytearray(c2pa_jpeg({"c2pa.ai_training": "notAllowed"}))
    edited[-20] ^= 0xFF  # inside the image data, after the manifest: the hash no longer matches
    assert _signals(stage, image=[bytes(edited)]) == [["opt_out:c2pa"]]


def test_c2pa_can_be_switched_off() -> None:
    quiet = CopyrightStage(CopyrightParams(c2pa=False), StageContext())
    assert _signals(quiet, image=[c2pa_jpeg({"c2pa.ai_training": "notAllowed"})]) == [[]]


# -- watermark score from an earlier stage ---------------------------------------------------------


def test_watermark_column_with_threshold(stage: CopyrightStage) -> None:
    image = jpeg_bytes()
    rows = _run(stage, image=[image, image, None], watermark=[0.93, 0.2, None])
    assert [s for s, _ in rows] == [["visible_watermark"], [], []]
    assert rows[0][1] == [{"signal": "visible_watermark", "source": "watermark", "value": "0.930 >= 0.5"}]
    assert rows[1][1] == []
    strict = CopyrightStage(CopyrightParams(watermark_threshold=0.95), StageContext())
    assert _signals(strict, image=[image], watermark=[0.93]) == [[]]


def test_watermark_unavailable_is_recorded_not_signalled(stage: CopyrightStage) -> None:
    [(signals, found)] = _run(stage, image=[jpeg_bytes()])
    assert signals == []
    assert found == [
        {
            "signal": "unavailable",
            "source": "watermark",
            "value": "no 'watermark' column: add nsfw.openclip (with CLIP weights) before this stage",
        }
    ]
    assert "unavailable" in stage.describe()["watermark"]["status"]


# -- clean data -------------------------------------------------------------------------------------


def test_real_photographs_give_no_signal(stage: CopyrightStage) -> None:
    root = eval_data_dir()
    assert root is not None, "shared eval data missing"
    photos = sorted((root / "near-dup-images").glob("*.jpg"))
    assert len(photos) >= 10
    rows = _run(stage, image=[p.read_bytes() for p in photos], watermark=[0.1] * len(photos))
    assert rows == [([], [])] * len(photos)


def test_ordinary_sentences_give_no_signal(stage: CopyrightStage) -> None:
    """The 3,728 HateCheck test cases: plain (if often hateful) English sentences, no rights markers."""
    root = eval_data_dir()
    assert root is not None, "shared eval data missing"
    texts = pv.read_csv(root / "hatecheck" / "test_suite_cases.csv")["test_case"].combine_chunks()
    out = stage.process(Batch(records=pa.RecordBatch.from_arrays([texts], names=["text"])))
    assert len(texts) > 3000
    assert out["copyright_signals"].to_pylist() == [[]] * len(texts)


def test_every_row_gets_both_columns_and_text_only_batches_work(stage: CopyrightStage) -> None:
    records = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": ["© 2020 X", None]})
    out = stage.process(Batch(records=records))
    assert [f.name for f in stage.output_schema()] == list(out)
    assert out["copyright_signals"].to_pylist() == [["notice"], []]
    assert len(out["copyright_evidence"]) == 2
