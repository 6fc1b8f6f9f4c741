"""Resume and edited inputs: ``fingerprint: content`` catches an edit that keeps size and mtime (issue 16: 11)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from datahygiene.engine.plan import ResumeMismatchError
from datahygiene.io.sources import discover
from tests.helpers import run_inputs


def _write(path: Path, words: str) -> Path:
    path.write_text("".join(json.dumps({"id": f"{path.stem}{i}", "text": f"{words} {i}"}) + "\n" for i in range(3)))
    return path


def _edit_keeping_size_and_mtime(path: Path) -> None:
    stat = path.stat()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"alpha", b"omega"))
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_content_fingerprint_sees_bytes_not_mtime(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", "alpha")
    stat_before = discover([str(path)])[0].fingerprint()
    content_before = discover([str(path)], fingerprint="content")[0].fingerprint()
    assert content_before != stat_before
    _edit_keeping_size_and_mtime(path)
    assert discover([str(path)])[0].fingerprint() == stat_before  # the cheap default cannot see this edit
    content_after = discover([str(path)], fingerprint="content")[0].fingerprint()
    assert content_after != content_before
    os.utime(path, ns=(0, 10**18))  # a touch alone changes no byte
    assert discover([str(path)], fingerprint="content")[0].fingerprint() == content_after
    assert discover([str(path)])[0].fingerprint() != stat_before


def _killed_before_last_commit(output: Path) -> None:
    """What a run killed before its last shard's commit leaves behind."""
    commit = output / "_commits" / "00001.json"
    for route in json.loads(commit.read_text())["files"].values():
        for entry in route:
            (output / entry["path"]).unlink()
    shutil.rmtree(output / "_state" / "00001", ignore_errors=True)
    commit.unlink()
    (output / "manifest.json").unlink()


@pytest.mark.parametrize("mode", ["stat", "content"])
def test_resume_after_an_edit_that_keeps_size_and_mtime(tmp_path: Path, mode: str) -> None:
    inputs = [_write(tmp_path / "a.jsonl", "first"), _write(tmp_path / "b.jsonl", "alpha")]
    output = tmp_path / "out"
    assert run_inputs(inputs, output, f"fingerprint={mode}", write_documents=False).exit_code == 0
    _killed_before_last_commit(output)
    _edit_keeping_size_and_mtime(inputs[1])
    if mode == "content":
        with pytest.raises(ResumeMismatchError, match="inputs differ"):
            run_inputs(inputs, output, f"fingerprint={mode}", resume=True, write_documents=False)
    else:  # the documented trade-off of the default: the edit goes unnoticed and the resumed run reads it
        resumed = run_inputs(inputs, output, f"fingerprint={mode}", resume=True, write_documents=False)
        assert resumed.exit_code == 0
