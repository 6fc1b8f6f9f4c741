"""WebDataset shards as people publish them: gzipped tars, gzipped members, label members, the ``datasets`` route."""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datahygiene.io.sources import discover
from tests.conftest import png_bytes
from tests.helpers import read_route, rows_by_id, run_inputs


def write_tar(path: Path, samples: dict[str, dict[str, bytes]], *, gz: bool = False) -> Path:
    """A WebDataset tar (gzipped with ``gz``): one member ``KEY.EXT`` per entry, samples in the order given."""
    with tarfile.open(path, "w:gz" if gz else "w") as archive:
        for key, members in samples.items():
            for extension, data in members.items():
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def text_samples(prefix: str, count: int) -> dict[str, dict[str, bytes]]:
    return {
        f"{prefix}{k:03d}": {"txt.gz": gzip.compress(f"sample {k} of {prefix}".encode()), "cls": str(k % 3).encode()}
        for k in range(count)
    }


def test_gzipped_shards_by_file_glob_and_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_tar(data / "a-000.tar.gz", text_samples("a", 4), gz=True)
    write_tar(data / "b-001.tgz", text_samples("b", 3), gz=True)
    write_tar(data / "c-002.tar", text_samples("c", 2))
    kinds = {Path(s.shard_id).name: s.kind for s in discover([str(data)])}
    assert kinds == {"a-000.tar.gz": "webdataset", "b-001.tgz": "webdataset", "c-002.tar": "webdataset"}
    assert [Path(s.shard_id).name for s in discover([str(data / "*")])] == ["a-000.tar.gz", "b-001.tgz", "c-002.tar"]
    result = run_inputs([data / "b-001.tgz", data / "a-000.tar.gz", data / "c-002.tar"], tmp_path / "out")
    assert result.exit_code == 0
    assert result.manifest["rows_in"] == result.manifest["rows_kept"] == 9
    rows = rows_by_id(tmp_path / "out")
    assert rows["a003"]["text"] == "sample 3 of a"  # .txt.gz decompressed: text, not no_content
    assert rows["b002"]["cls"] == 2


def test_label_members_and_json_fields_become_typed_columns(tmp_path: Path) -> None:
    samples = {
        f"s{k}": {
            "png": png_bytes(colour=("red", "green", "blue", "white", "black")[k]),
            "cls": str(k).encode(),
            "txt": f"caption {k}".encode(),
            "json": json.dumps(
                {"width": 32, "score": 0.5 + k, "author": f"person {k}", "nested": {"k": k}}
                if k != 4
                else {"width": "wide", "score": 1, "author": "x", "nested": None}
            ).encode(),
        }
        for k in range(5)
    }
    path = write_tar(tmp_path / "labelled.tar", samples)
    assert run_inputs([path], tmp_path / "out", "image_batch_size=2").exit_code == 0
    table = read_route(tmp_path / "out", "kept")
    assert table is not None
    schema = pq.read_schema(sorted((tmp_path / "out" / "kept").glob("*.parquet"))[0])
    assert str(schema.field("cls").type) == "int64"
    assert str(schema.field("width").type) == "int64"
    assert str(schema.field("score").type) == "double"
    assert str(schema.field("author").type) == "string"
    rows = {row["id"]: row for row in table.to_pylist()}
    assert [rows[f"s{k}"]["cls"] for k in range(5)] == [0, 1, 2, 3, 4]
    assert rows["s1"]["score"] == 1.5
    assert rows["s2"]["text"] == "caption 2"
    assert json.loads(rows["s1"]["metadata"]) == {"nested": {"k": 1}}  # not a scalar: stays in metadata
    # in a later batch, a value that does not fit the shard's column type stays in metadata, nothing lost
    assert rows["s4"]["width"] is None
    assert json.loads(rows["s4"]["metadata"]) == {"width": "wide", "nested": None}
    assert rows["s4"]["score"] == 1.0
    assert "base64" not in "".join(str(row["metadata"]) for row in rows.values())


def test_a_corrupt_gzip_member_rejects_its_sample_with_the_bytes(tmp_path: Path) -> None:
    broken = b"\x1f\x8b\x08\x00not really gzip"
    path = write_tar(tmp_path / "mixed.tar", {"ok": {"txt.gz": gzip.compress(b"fine text")}, "bad": {"txt.gz": broken}})
    result = run_inputs([path], tmp_path / "out")
    assert result.manifest["rows_in"] == 2
    rows = rows_by_id(tmp_path / "out")
    assert rows["ok"]["text"] == "fine text"
    bad = next(row for key, row in rows.items() if key != "ok")
    assert bad["reject_reasons"] == ["malformed_gzip"]
    assert bad["raw"] == broken


def test_a_folder_says_which_files_it_does_not_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_tar(folder / "a.tar.gz", text_samples("a", 1), gz=True)
    (folder / "notes.docx").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="datahygiene.io.sources"):
        shards = discover([str(folder)])
    assert [s.kind for s in shards] == ["webdataset"]
    assert "1 file(s) of unknown type not read" in caplog.text
    assert ".docx" in caplog.text


def test_hf_webdataset_route_falls_back_to_plain_iteration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``datasets`` fails to Arrow-format samples whose JSON fields change mid-shard; the run reads them all."""
    samples = {
        f"s{k:04d}": {
            "png": png_bytes(size=(8, 8)),
            "cls": str(k % 10).encode(),
            "json": json.dumps({"label": k} if k < 150 else {"label": k, "note": "later field"}).encode(),
        }
        for k in range(300)
    }
    path = write_tar(tmp_path / "hf-00000.tar", samples)
    with caplog.at_level(logging.WARNING, logger="datahygiene.io.hf"):
        result = run_inputs([f"hf:webdataset?data_files={path}"], tmp_path / "out", "image_batch_size=64")
    assert result.exit_code == 0, result.manifest["shards"]
    assert result.manifest["rows_in"] == 300
    assert "reading the rest row by row" in caplog.text
    table = read_route(tmp_path / "out", "kept")
    assert table is not None
    labels = sorted(row["label"] for row in table.column("json").to_pylist())
    assert labels == list(range(300))
