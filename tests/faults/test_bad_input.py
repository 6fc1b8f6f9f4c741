"""Bad input never crashes a run and never vanishes: each row gets a specific reason."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from tests.conftest import jpeg_bytes, png_bytes
from tests.helpers import rows_by_id, run_inputs


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_jsonl_faults(tmp_path: Path) -> None:
    lines = [
        b'{"id": "ok", "text": "fine"}',
        b'{"id": "broken", "text": ',
        b'{"id": "surrogate", "text": "bad \\ud83d here"}',
        b'{"id": "latin1", "text": "caf\xe9"}',
        b'{"id": "empty", "text": ""}',
        b'{"id": "blank", "text": " \\n\\t "}',
        b'{"id": "null", "text": null}',
        b'{"id": "number", "text": 42}',
        b'{"id": "nested", "text": {"a": [1, 2]}}',
        b'["not", "an", "object"]',
        b'{"id": "ok", "text": "same id again"}',
    ]
    path = tmp_path / "faults.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_inputs([path], tmp_path / "out")
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    reasons = {key: row["reject_reasons"] for key, row in rows.items()}
    assert reasons["ok"] == []
    assert reasons[f"{path}:1"] == ["malformed_json"]
    assert reasons["surrogate"] == ["lone_surrogate"]  # the row's own id, read leniently from its bytes
    assert reasons["latin1"] == ["invalid_utf8"]
    assert reasons["empty"] == reasons["blank"] == reasons["null"] == ["empty_text"]
    assert reasons["number"] == ["wrong_type:text"]
    assert rows["number"]["text"] == "42"  # the value is kept, as text
    assert reasons["nested"] == ["wrong_type:text"]
    assert reasons[f"{path}:9"] == ["malformed_json"]
    assert rows[f"{path}:1"]["raw"] == lines[1]  # the bytes of a bad line are kept
    assert rows["latin1"]["raw"] == lines[3]
    assert rows["ok#2"]["reject_reasons"] == ["duplicate_id"]
    assert rows["ok#2"]["text"] == "same id again"
    assert result.manifest["rows_in"] == len(lines)
    assert result.manifest["reject_reasons"]["duplicate_id"] == 1


def test_image_faults(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    good = jpeg_bytes((64, 48))
    cases = {
        "good": good,
        "zero": b"",
        "truncated": good[: len(good) // 2],
        "garbage": b"GIF89a but not really",
        "bomb": _bomb_png(40_000, 40_000),
        "huge-bytes": png_bytes((8, 8)) + b"\x00" * 4096,
    }
    path = write_parquet("images.parquet", {"id": list(cases), "image": pa.array(list(cases.values()), pa.binary())})
    result = run_inputs([path], tmp_path / "out", "limits.max_image_pixels=1000000", "limits.max_image_bytes=3000")
    rows = rows_by_id(tmp_path / "out")
    assert rows["good"]["route"] == "kept"
    assert rows["zero"]["reject_reasons"] == ["image_empty"]
    assert rows["truncated"]["reject_reasons"] == ["image_truncated"]
    assert rows["garbage"]["reject_reasons"] == ["image_undecodable"]
    assert rows["bomb"]["reject_reasons"] == ["image_too_large"]
    assert rows["huge-bytes"]["reject_reasons"] == ["image_too_large"]
    assert rows["truncated"]["image"]["bytes"] == cases["truncated"]  # kept for audit, not lost
    assert result.manifest["rows_in"] == len(cases)


def test_truncated_jpeg_passes_verify_but_is_rejected(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    image = Image.radial_gradient("L").resize((512, 512)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    truncated = buffer.getvalue()[:-2000]
    Image.open(io.BytesIO(truncated)).verify()  # Pillow's verify() does not notice
    path = write_parquet("t.parquet", {"id": ["t"], "image": pa.array([truncated], pa.binary())})
    run_inputs([path], tmp_path / "out")
    assert rows_by_id(tmp_path / "out")["t"]["reject_reasons"] == ["image_truncated"]


def test_missing_extra_and_wrong_typed_columns(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    configured = write_parquet("a.parquet", {"id": ["a1"], "body": ["has body"], "extra": [1]})
    missing = write_parquet("b.parquet", {"id": ["b1"], "other": ["no body column"]})
    typed = write_parquet("c.parquet", {"id": ["c1", "c2"], "body": [1.5, None]})
    result = run_inputs([configured, missing, typed], tmp_path / "out", "columns.text=body")
    rows = rows_by_id(tmp_path / "out")
    assert rows["a1"]["route"] == "kept"
    assert rows["a1"]["extra"] == 1
    assert rows["b1"]["reject_reasons"] == ["missing_column:body"]
    assert rows["b1"]["other"] == "no body column"
    assert rows["c1"]["reject_reasons"] == ["wrong_type:text"]
    assert rows["c1"]["text"] == "1.5"
    assert rows["c2"]["reject_reasons"] == ["empty_text"]
    assert result.manifest["rows_in"] == 4


def test_invalid_utf8_in_binary_and_csv_columns(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    binary = write_parquet(
        "bin.parquet", {"id": ["u1", "u2"], "text": pa.array([b"ok text", b"bad \xc3\x28"], pa.binary())}
    )
    csv_path = tmp_path / "bad.csv"
    csv_path.write_bytes(b"id,text\nv1,fine\nv2,caf\xe9\nv3,too,many,fields\n")
    result = run_inputs([binary, csv_path], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["u1"]["text"] == "ok text"
    assert rows["u2"]["reject_reasons"] == ["invalid_utf8"]
    assert rows["u2"]["raw"] == b"bad \xc3\x28"
    assert rows["v1"]["route"] == "kept"
    assert rows["v2"]["reject_reasons"] == ["invalid_utf8"]
    malformed = [r for r in rows.values() if r["reject_reasons"] == ["malformed_csv"]]
    assert len(malformed) == 1
    assert malformed[0]["raw"] == b"v3,too,many,fields"
    assert result.manifest["rows_in"] == 5


def test_unreadable_shard_is_reported_after_the_others(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    first = write_parquet("a.parquet", {"text": ["before"]})
    broken = tmp_path / "b.parquet"
    broken.write_bytes(b"PAR1 this file has no footer")
    last = write_parquet("c.parquet", {"text": ["after"]})
    result = run_inputs([first, broken, last], tmp_path / "out")
    assert result.exit_code == 1
    assert result.failed_shards == [str(broken)]
    entries = {Path(e["shard"]).name: e for e in result.manifest["shards"]}
    assert entries["b.parquet"]["status"] == "failed"
    assert "ArrowInvalid" in entries["b.parquet"]["error"] or "footer" in entries["b.parquet"]["error"].lower()
    assert entries["a.parquet"]["status"] == entries["c.parquet"]["status"] == "committed"
    assert result.manifest["rows_in"] == 2
    assert not (tmp_path / "out" / "_tmp" / "00001").exists()


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv", "empty.parquet"])
def test_empty_inputs_commit_with_zero_rows(tmp_path: Path, name: str, write_parquet: Callable[..., Path]) -> None:
    if name.endswith(".parquet"):
        path = write_parquet(name, {"text": pa.array([], pa.string())})
    else:
        path = tmp_path / name
        path.write_bytes(b"")
    result = run_inputs([path], tmp_path / "out")
    assert result.exit_code == 0
    assert result.manifest["rows_in"] == 0
    assert result.manifest["shards_committed"] == 1
