"""A full disk while a shard commits fails that shard only: later shards go on, a manifest is written (issue 16: 7)."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datahygiene.io import sink
from datahygiene.io.sink import RunDir
from datahygiene.reports.verify import verify_run
from tests.helpers import rows_by_id, run_inputs


def _shards(directory: Path) -> list[Path]:
    directory.mkdir()
    ids = {"a.jsonl": ["a0", "a1"], "b.jsonl": ["b0", "b1"], "c.jsonl": ["b0", "c1"]}
    paths = []
    for name, keys in ids.items():
        path = directory / name
        path.write_text("".join(json.dumps({"id": key, "text": f"text of {name} {key}"}) + "\n" for key in keys))
        paths.append(path)
    return paths


def _full_disk() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def _fail_last_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Parquet writer of shard 1 cannot finish its file (the footer is the last flush)."""
    real_close = pq.ParquetWriter.close

    def close(self: pq.ParquetWriter) -> None:
        real_close(self)
        if f"{Path('_tmp') / '00001'}" in str(self.where):
            raise _full_disk()

    monkeypatch.setattr(pq.ParquetWriter, "close", close)


def _fail_commit_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shard 1's files are in place, then its commit record cannot be written."""
    real_write = sink.atomic_write_json

    def write(path: Path, value: Any) -> None:
        if path.name == "00001.json":
            raise _full_disk()
        real_write(path, value)

    monkeypatch.setattr(sink, "atomic_write_json", write)


@pytest.mark.parametrize("break_disk", [_fail_last_flush, _fail_commit_record])
def test_no_space_while_committing_fails_only_that_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, break_disk: Any
) -> None:
    inputs = _shards(tmp_path / "in")
    break_disk(monkeypatch)
    output = tmp_path / "out"
    result = run_inputs(inputs, output, write_documents=False)
    assert result.exit_code == 1
    assert result.failed_shards == [str(inputs[1])]
    manifest = json.loads((output / "manifest.json").read_text())
    assert [shard["status"] for shard in manifest["shards"]] == ["committed", "failed", "committed"]
    assert "No space left on device" in manifest["shards"][1]["error"]
    assert not (output / "_commits" / "00001.json").exists()
    assert not (output / "_state" / "00001").exists()
    assert sorted(path.name for path in output.glob("*/part-00001.parquet")) == []  # nothing half-published
    assert verify_run(RunDir(output)) == []
    # the failed shard's ids were rolled back: the later shard's b0 is no duplicate of an uncommitted row
    assert rows_by_id(output)["b0"]["route"] == "kept"
    monkeypatch.undo()
    resumed = run_inputs(inputs, output, resume=True, write_documents=False)
    assert resumed.exit_code == 0
    assert resumed.manifest["rows_in"] == 6
