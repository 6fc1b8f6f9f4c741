"""Every input format reads into the same canonical columns, nothing dropped."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from datahygiene.io.sources import InputError, discover
from tests.conftest import jpeg_bytes, png_bytes
from tests.helpers import rows_by_id, run_inputs


def test_discovery_orders_dedupes_and_rejects_unknown(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    write_parquet("b.parquet", {"text": ["x"]})
    write_parquet("a.parquet", {"text": ["y"]})
    shards = discover([str(tmp_path / "*.parquet"), str(tmp_path / "a.parquet")])
    assert [Path(s.shard_id).name for s in shards] == ["a.parquet", "b.parquet"]
    assert [s.index for s in shards] == [0, 1]
    (tmp_path / "notes.docx").write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported type"):
        discover([str(tmp_path / "notes.docx")])
    with pytest.raises(InputError, match="matches no file"):
        discover([str(tmp_path / "nothing-*.jsonl")])


def test_jsonl_gz_csv_and_parquet_map_roles(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.write(
            json.dumps({"id": "j1", "caption": "from jsonl", "url": "https://e.org", "extra": {"k": 1}}) + "\n"
        )
    (tmp_path / "b.csv").write_text('id,text,license,lang\nc1,"from csv, quoted",CC0-1.0,en\n')
    write_parquet("c.parquet", {"uid": [7], "content": ["from parquet"], "score": [0.5]})
    result = run_inputs([tmp_path / "a.jsonl.gz", tmp_path / "b.csv", tmp_path / "c.parquet"], tmp_path / "out")
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert rows["j1"]["text"] == "from jsonl"
    assert rows["j1"]["url"] == "https://e.org"
    assert json.loads(rows["j1"]["metadata"]) == {"extra": {"k": 1}}
    assert rows["c1"]["text"] == "from csv, quoted"
    assert rows["c1"]["license"] == "CC0-1.0"
    assert rows["c1"]["lang"] == "en"
    assert rows["7"]["text"] == "from parquet"
    assert rows["7"]["score"] == 0.5
    assert all(row["route"] == "kept" for row in rows.values())


def test_column_mapping_from_config(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    write_parquet("d.parquet", {"key": ["k1"], "body": ["mapped body"], "text": ["not this one"]})
    run_inputs([tmp_path / "d.parquet"], tmp_path / "out", "columns.text=body", "columns.id=key")
    rows = rows_by_id(tmp_path / "out")
    assert rows["k1"]["text"] == "mapped body"
    assert rows["k1"]["input_text"] == "not this one"  # a passthrough column never shadows a role


def test_image_folder_ids_are_relative_paths(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.jpg").write_bytes(jpeg_bytes())
    (folder / "b.png").write_bytes(png_bytes())
    result = run_inputs([folder], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert set(rows) == {"sub/a.jpg", "b.png"}
    assert rows["sub/a.jpg"]["image"]["bytes"] == jpeg_bytes()
    assert result.manifest["rows_kept"] == 2


def test_webdataset_tar_groups_members_by_key(tmp_path: Path) -> None:
    path = tmp_path / "shard-000.tar"
    with tarfile.open(path, "w") as archive:
        for key, members in {
            "s1": {"jpg": jpeg_bytes(), "txt": b"a red square", "json": b'{"license": "CC-BY-4.0"}'},
            "s2": {"png": png_bytes(), "txt": b"\xffbad"},
        }.items():
            for extension, data in members.items():
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    run_inputs([path], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["s1"]["text"] == "a red square"
    assert rows["s1"]["image"]["bytes"] == jpeg_bytes()
    assert rows["s1"]["license"] == "CC-BY-4.0"
    assert rows["s2"]["reject_reasons"] == ["invalid_utf8"]


def test_huggingface_streaming_from_local_files(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    write_parquet("hf/train-0.parquet", {"text": ["one", "two"], "id": ["h1", "h2"]})
    write_parquet("hf/train-1.parquet", {"text": ["three"], "id": ["h3"]})
    spec = f"hf:parquet?data_files={tmp_path / 'hf' / '*.parquet'}&split=train"
    result = run_inputs([spec], tmp_path / "out")
    assert result.exit_code == 0
    assert {r["id"]: r["text"] for r in rows_by_id(tmp_path / "out").values()} == {
        "h1": "one",
        "h2": "two",
        "h3": "three",
    }


def test_hf_image_dicts_and_relative_paths(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "x.jpg").write_bytes(jpeg_bytes())
    (tmp_path.parent / "secret.jpg").write_bytes(jpeg_bytes())
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    write_parquet(
        "refs.parquet",
        {
            "id": ["dict", "path", "escape", "missing"],
            "image": pa.array(
                [
                    {"bytes": png_bytes(), "path": None},
                    {"bytes": None, "path": "img/x.jpg"},
                    {"bytes": None, "path": "../secret.jpg"},
                    {"bytes": None, "path": "img/none.jpg"},
                ],
                image_type,
            ),
        },
    )
    run_inputs([tmp_path / "refs.parquet"], tmp_path / "out")
    rows = rows_by_id(tmp_path / "out")
    assert rows["dict"]["route"] == "kept"
    assert rows["path"]["image"]["bytes"] == jpeg_bytes()
    assert rows["escape"]["reject_reasons"] == ["image_path_escape"]
    assert rows["missing"]["reject_reasons"] == ["image_missing_file"]


def test_known_rows_reads_the_parquet_footer_only(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    write_parquet("a.parquet", {"id": [str(k) for k in range(5)], "text": ["t"] * 5})
    (tmp_path / "b.jsonl").write_text('{"id": "x", "text": "t"}\n')
    (tmp_path / "c.parquet").write_bytes(b"PAR1 not really parquet")
    counts = {shard.path.name: shard.known_rows() for shard in discover([str(tmp_path)]) if shard.path}
    assert counts == {"a.parquet": 5, "b.jsonl": None, "c.parquet": None}
