"""``provenance.c2pa`` records every manifest (signed fixtures built offline with c2pa-python), not only AI claims."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from datahygiene.core import columns as C
from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.provenance.c2pa import C2paParams, C2paStage
from datahygiene.stages.rights.samples import (
    c2pa_jpeg,
    c2pa_remote_jpeg,
    c2pa_tampered_jpeg,
    exif_jpeg,
)

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _record(blobs: list[bytes | None]) -> list[dict[str, Any]]:
    images = pa.array([None if b is None else {"bytes": b, "path": None} for b in blobs], C.IMAGE_TYPE)
    batch = Batch(records=pa.record_batch({"id": pa.array([str(i) for i in range(len(blobs))]), "image": images}))
    out = C2paStage(C2paParams(), StageContext()).process(batch)
    rows: list[dict[str, Any]] = pa.table(out).to_pylist()
    return rows


def test_every_manifest_is_recorded_with_state_signer_generator_and_source_types() -> None:
    rows = _record(
        [
            c2pa_jpeg(),  # a camera claim: no AI, no training-mining entry
            c2pa_jpeg(source_type=IPTC + "algorithmicMedia"),
            c2pa_jpeg(source_type=IPTC + "compositeWithTrainedAlgorithmicMedia"),
            c2pa_jpeg(training={"c2pa.ai_training": "allowed"}),
            exif_jpeg(artist="Someone"),
            None,
        ]
    )
    assert [r["c2pa_state"] for r in rows] == ["valid", "valid", "valid", "valid", None, None]
    assert rows[0]["c2pa_signer"] == "datahygiene test signer (datahygiene tests)"
    assert rows[0]["c2pa_claim_generator"] == ["datahygiene-tests 1"]
    assert rows[0]["c2pa_source_types"] == ["digitalCapture"]
    assert rows[1]["c2pa_source_types"] == ["algorithmicMedia"]
    assert rows[2]["c2pa_source_types"] == ["compositeWithTrainedAlgorithmicMedia"]
    assert "training-mining c2pa.ai_training=allowed" in rows[3]["c2pa_evidence"]
    evidence = rows[0]["c2pa_evidence"]
    assert evidence[0].startswith("manifest urn:")
    assert "validation Valid -> valid" in evidence
    assert "signer not on a trust list (not checked offline)" in evidence
    assert "action c2pa.created" in evidence
    assert rows[4]["c2pa_evidence"] == rows[5]["c2pa_evidence"] == []


def test_a_tampered_image_is_invalid_with_its_failure_codes() -> None:
    (row,) = _record([c2pa_tampered_jpeg()])
    assert row["c2pa_state"] == "invalid"
    assert "failure assertion.dataHash.mismatch" in row["c2pa_evidence"]
    assert row["c2pa_signer"] == "datahygiene test signer (datahygiene tests)"  # who signed is still known


def test_an_unreadable_store_is_invalid_not_absent() -> None:
    signed = bytearray(c2pa_jpeg())
    start = signed.index(b"c2pa.signature")
    for offset in range(start + 40, start + 140):
        signed[offset] ^= 0x5A
    (row,) = _record([bytes(signed)])
    assert row["c2pa_state"] == "invalid"
    assert any(line.startswith("unreadable: c2pa:") for line in row["c2pa_evidence"])


def test_a_remote_manifest_is_unverifiable_offline() -> None:
    (row,) = _record([c2pa_remote_jpeg("https://example.com/m/photo.c2pa")])
    assert row["c2pa_state"] == "unverifiable"
    assert row["c2pa_evidence"] == ["remote manifest https://example.com/m/photo.c2pa (not fetched offline)"]
