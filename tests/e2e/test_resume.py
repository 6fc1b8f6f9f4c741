"""Exactly-once: a run killed with SIGKILL and resumed equals an uninterrupted run, byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datahygiene.engine.plan import OutputExistsError, ResumeMismatchError
from tests.helpers import run_inputs

SHARDS = 12
ROWS = 40_000


def _make_inputs(directory: Path) -> list[Path]:
    directory.mkdir()
    paths = []
    for shard in range(SHARDS):
        texts = [f"shard {shard} row {row} " + "word " * (row % 7) for row in range(ROWS)]
        texts[5] = ""  # one rejected row per shard
        ids = [f"{shard}-{row}" for row in range(ROWS)]
        ids[7] = "0-0"  # a duplicate id across shards
        path = directory / f"part-{shard:02d}.parquet"
        pq.write_table(pa.table({"id": ids, "text": texts}), path)
        paths.append(path)
    return paths


def _outputs(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for route in ("kept", "rejected", "quarantined")
        for path in sorted((directory / route).glob("*.parquet"))
    }


def _cli(inputs: list[Path], output: Path, *extra: str) -> subprocess.Popen[bytes]:
    arguments = [sys.executable, "-m", "datahygiene", "run", "configs/minimal.yaml", "--output", str(output)]
    for path in inputs:
        arguments += ["--input", str(path)]
    arguments += ["--set", "batch_size=4096", *extra]
    return subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})


@pytest.mark.slow
def test_sigkill_then_resume_is_byte_identical(tmp_path: Path) -> None:
    inputs = _make_inputs(tmp_path / "in")
    reference = run_inputs(inputs, tmp_path / "reference", "batch_size=4096")
    assert reference.exit_code == 0

    killed = tmp_path / "killed"
    process = _cli(inputs, killed)
    deadline = time.monotonic() + 120
    while not (killed / "_commits" / "00002.json").exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed_before = len(list((killed / "_commits").glob("*.json")))
    assert 3 <= committed_before < SHARDS, "the kill should land mid-run"
    assert not (killed / "manifest.json").exists()

    resumed = _cli(inputs, killed, "--resume")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()
    assert _outputs(killed) == _outputs(tmp_path / "reference")
    manifest = json.loads((killed / "manifest.json").read_text())
    for key in ("rows_in", "rows_kept", "rows_rejected", "reject_reasons"):
        assert manifest[key] == reference.manifest[key]
    assert manifest["reject_reasons"] == {"duplicate_id": SHARDS, "empty_text": SHARDS}
    assert not list((killed / "_tmp").glob("*/*.parquet"))


def test_resume_skips_committed_shards_and_guards_the_directory(tmp_path: Path) -> None:
    inputs = _make_inputs(tmp_path / "in")[:2]
    output = tmp_path / "out"
    first = run_inputs(inputs, output, "batch_size=10000")
    files = _outputs(output)
    with pytest.raises(OutputExistsError, match="--resume"):
        run_inputs(inputs, output, "batch_size=10000")
    again = run_inputs(inputs, output, "batch_size=10000", resume=True)
    assert _outputs(output) == files
    assert again.manifest["rows_in"] == first.manifest["rows_in"]
    with pytest.raises(ResumeMismatchError, match="config"):
        run_inputs(inputs, output, "batch_size=999", resume=True)
    with pytest.raises(ResumeMismatchError, match="inputs"):
        run_inputs(inputs[:1], output, "batch_size=10000", resume=True)
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("someone's file")
    with pytest.raises(OutputExistsError, match="not empty"):
        run_inputs(inputs, stray)


def test_a_failed_shard_is_retried_by_resume(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "fine"}\n')
    flaky = tmp_path / "flaky.parquet"
    flaky.write_bytes(b"not parquet yet")
    output = tmp_path / "out"
    result = run_inputs([good, flaky], output)
    assert result.exit_code == 1
    assert [s["status"] for s in result.manifest["shards"]] == ["committed", "failed"]
    # Repairing the file changes its fingerprint, so the run identity no longer matches:
    pq.write_table(pa.table({"text": ["now readable"]}), flaky)
    with pytest.raises(ResumeMismatchError, match="inputs"):
        run_inputs([good, flaky], output, resume=True)
