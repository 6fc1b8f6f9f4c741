"""Hostile rows keep their identity, get the right reason, and keep their values exactly (issue 16: 1, 3, 4, 10)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import jpeg_bytes
from tests.helpers import rows_by_id, run_inputs


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_jsonl_rows_with_bad_text_keep_their_own_id(tmp_path: Path) -> None:
    lines = [
        b'{"id": "a17", "text": "bad \xff\xfe"}',
        b'{"id": "a27", "text": "lone \\ud800"}',
        b'{"id": "a37", "text": "fine"}',
        b'{"id": "bad \xff", "text": "the id itself is broken"}',
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    run_inputs([path], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["a17"]["reject_reasons"] == ["invalid_utf8"]
    assert rows["a17"]["raw"] == lines[0]  # the text stays invalid; its bytes stay in raw
    assert rows["a17"]["text"] is None
    assert rows["a27"]["reject_reasons"] == ["lone_surrogate"]
    assert rows["a27"]["raw"] == lines[1]
    assert rows["a37"]["route"] == "kept"
    assert rows[f"{path}:3"]["reject_reasons"] == ["invalid_utf8"]  # nothing to recover: derived id


def test_csv_rows_that_cannot_be_parsed_keep_their_id(tmp_path: Path) -> None:
    path = tmp_path / "hostile.csv"
    path.write_bytes(b'id,text\nc1,fine\nc2,"too",many,fields\nc3,also fine\n')
    run_inputs([path], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["c2"]["reject_reasons"] == ["malformed_csv"]
    assert rows["c2"]["raw"] == b'c2,"too",many,fields'
    assert rows["c1"]["route"] == rows["c3"]["route"] == "kept"


def test_webdataset_sample_with_a_bad_json_member_keeps_its_key_and_members(tmp_path: Path) -> None:
    image = jpeg_bytes()
    path = _tar(
        tmp_path / "shard.tar",
        [
            ("s1.jpg", image),
            ("s1.txt", b"a caption"),
            ("s1.json", b'{"license": "bad \xff"}'),
            ("s2.txt", b"fine"),
        ],
    )
    run_inputs([path], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["s1"]["reject_reasons"] == ["invalid_utf8"]
    assert rows["s1"]["raw"] == b'{"license": "bad \xff"}'
    assert rows["s1"]["image"]["bytes"] == image  # the other members are still columns of the row
    assert rows["s1"]["text"] == "a caption"
    assert rows["s2"]["route"] == "kept"


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
def test_jsonl_id_field_does_not_depend_on_the_batch(tmp_path: Path, batch_size: int) -> None:
    lines = [
        {"key": "k1", "text": "first"},
        {"id": "i2", "key": "k2", "text": "second"},
        {"key": "k1", "text": "same key as the first row"},
        {"key": "k4", "text": "fourth"},
    ]
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run_inputs([path], tmp_path / "out", f"batch_size={batch_size}")
    rows = rows_by_id(tmp_path / "out")
    assert set(rows) == {"k1", "i2", "k1#2", "k4"}
    assert rows["k1#2"]["reject_reasons"] == ["duplicate_id"]  # the repeated key does not escape the check
    assert json.loads(rows["i2"]["metadata"]) == {"key": "k2"}  # the field not used as id stays in metadata


def test_webdataset_id_field_does_not_depend_on_the_batch(tmp_path: Path) -> None:
    path = _tar(
        tmp_path / "shard.tar",
        [
            ("a.txt", b"one"),
            ("b.txt", b"two"),
            ("b.json", b'{"id": "from-json"}'),
            ("c.txt", b"three"),
        ],
    )
    run_inputs([path], tmp_path / "out", "image_batch_size=1000")
    assert set(rows_by_id(tmp_path / "out")) == {"a", "from-json", "c"}


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_a_broken_webdataset_json_gives_the_same_id_in_any_batch(tmp_path: Path, batch_size: int) -> None:
    path = _tar(
        tmp_path / "shard.tar",
        [
            ("s1.txt", b"one"),
            ("s1.json", b'{"id": "j1"}'),
            ("s2.txt", b"two"),
            ("s2.json", b'{"id": "j2", "note": "lone \\ud800"}'),
        ],
    )
    run_inputs([path], tmp_path / "out", f"image_batch_size={batch_size}")
    rows = rows_by_id(tmp_path / "out")
    assert set(rows) == {"j1", "j2"}  # s2's json still gives its id, with or without s1 in its batch
    assert rows["j2"]["reject_reasons"] == ["lone_surrogate"]


def test_an_empty_image_path_is_no_image(tmp_path: Path) -> None:
    path = tmp_path / "empty-path.jsonl"
    path.write_text(
        json.dumps({"id": "e1", "text": "has text", "image": ""})
        + "\n"
        + json.dumps({"id": "e2", "text": "dict form", "image": {"bytes": None, "path": ""}})
        + "\n"
        + json.dumps({"id": "e3", "image": ""})
        + "\n"
    )
    run_inputs([path], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["e1"]["route"] == rows["e2"]["route"] == "kept"
    assert rows["e1"]["image"] is None
    assert rows["e2"]["image"] is None
    assert rows["e3"]["reject_reasons"] == ["empty_text"]
    import datasets

    kept = str(tmp_path / "out" / "kept" / "part-00000.parquet")
    loaded = datasets.load_dataset("parquet", data_files=kept, split="train")
    assert [row["image"] for row in loaded] == [None, None]  # no FileNotFoundError: ''


def test_jsonl_reasons_and_exact_values(tmp_path: Path) -> None:
    lines = [
        b'{"id": "nan", "text": "x", "v": NaN}',
        b'{"id": "inf", "text": "x", "v": Infinity}',
        b'{"id": "big", "text": "x", "n": 18446744073709551617, "m": 9007199254740993, "f": 0.1}',
        b'{"id": 123456789012345678901234567890, "text": "a huge numeric id"}',
        b'{"id": "deep", "text": "x", "v": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"id": "in-string", "text": "12345678901234567890123"}',
    ]
    path = tmp_path / "values.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_inputs([path], tmp_path / "out")
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert rows[f"{path}:0"]["reject_reasons"] == ["malformed_json"]
    assert rows[f"{path}:1"]["reject_reasons"] == ["malformed_json"]
    assert rows["big"]["route"] == "kept"
    assert rows["big"]["metadata"] == '{"f":0.1,"m":9007199254740993,"n":18446744073709551617}'
    assert rows["123456789012345678901234567890"]["route"] == "kept"
    assert rows[f"{path}:4"]["reject_reasons"] == ["malformed_json"]  # nested deeper than a parser allows
    assert rows["in-string"]["text"] == "12345678901234567890123"
    assert pq.read_metadata(tmp_path / "out" / "kept" / "part-00000.parquet").num_rows == 3
