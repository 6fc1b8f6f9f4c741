"""Runs into an s3:// output on the real server: same rows as on disk, verify, kill and resume, racing writers."""

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

from datahygiene.core.config import load_config
from datahygiene.engine.plan import OutputBusyError
from datahygiene.engine.run import run
from datahygiene.io.rundir import RunDir
from datahygiene.io.storage import Store
from datahygiene.reports.verify import verify_run
from tests.s3 import dedup_config

REPO = Path(__file__).resolve().parents[2]
SHARDS = 6
ROWS = 1000
CONFIG = dedup_config(1000, "check_duplicate_ids: true")


def _words(row: int) -> str:
    return " ".join(f"w{(row * 7 + k) % 97}" for k in range(12))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Text shards with exact and near copies across shards and one duplicate id per shard."""
    directory = tmp_path_factory.mktemp("in")
    paths = []
    for shard in range(SHARDS):
        texts = [
            f"shard {shard} row {row} " + " ".join(f"w{(row * 7 + k) % 97}" for k in range(12)) for row in range(ROWS)
        ]
        for row in range(0, ROWS, 50):  # copies of shard 0's rows, exact and with one word changed
            texts[row] = f"shard 0 row {row} " + " ".join(f"w{(row * 7 + k) % 97}" for k in range(12))
            if row % 100 == 0:
                texts[row] = texts[row].upper()
        ids = [f"{shard}-{row}" for row in range(ROWS)]
        ids[9] = "0-1"
        path = directory / f"part-{shard}.parquet"
        pq.write_table(pa.table({"id": ids, "text": texts}), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "dedup.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def reference(inputs: list[Path], config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run into a local folder."""
    output = tmp_path_factory.mktemp("reference") / "out"
    result = run(load_config(config_path), [str(p) for p in inputs], output, write_documents=False)
    assert result.exit_code == 0
    return output


def _local_files(output: Path) -> dict[str, bytes]:
    return {
        f"{route}/{path.name}": path.read_bytes()
        for route in ("kept", "rejected", "quarantined")
        for path in sorted((output / route).glob("*.parquet"))
    }


def _store_files(url: str) -> dict[str, bytes]:
    store = Store.open(url)
    return {
        name: store.read_bytes(name)
        for name in store.listing()
        if name.split("/", 1)[0] in ("kept", "rejected", "quarantined")
    }


def _cli(config: Path, inputs: list[Path], output: str, *extra: str) -> subprocess.Popen[bytes]:
    arguments = [sys.executable, "-m", "datahygiene", "run", str(config), "--output", output, "--no-datasheet"]
    for path in inputs:
        arguments += ["--input", str(path)]
    return subprocess.Popen(
        [*arguments, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ}, cwd=REPO
    )


def test_run_into_s3_writes_the_same_files_and_verifies(
    bucket: str, inputs: list[Path], config_path: Path, reference: Path
) -> None:
    output = f"{bucket}/clean"
    result = run(load_config(config_path), [str(p) for p in inputs], output)
    assert result.exit_code == 0
    assert result.output == output
    reference_manifest = json.loads((reference / "manifest.json").read_text())
    for key in ("rows_in", "rows_kept", "rows_rejected", "reject_reasons"):
        assert result.manifest[key] == reference_manifest[key]
    assert result.manifest["reject_reasons"]["duplicate:exact"] > 0
    assert result.manifest["reject_reasons"]["duplicate_id"] == SHARDS
    # Same inputs, same config: every Parquet file is byte-identical to the one written on disk.
    assert _store_files(output) == _local_files(reference)
    store = Store.open(output)
    assert {"manifest.json", "datasheet.md", "README.md"} <= set(store.listing())
    assert not store.exists("_lock.json")
    assert verify_run(RunDir.at(output)) == []

    # A tampered object is caught by verify.
    name = "kept/part-00003.parquet"
    table = pq.read_table(pa.py_buffer(store.read_bytes(name)))
    sink = pa.BufferOutputStream()
    pq.write_table(table.slice(1), sink)
    store.put_bytes(name, sink.getvalue().to_pybytes())
    errors = verify_run(RunDir.at(output))
    assert any("part-00003.parquet" in e and "sha256" in e for e in errors)
    assert any("part-00003.parquet" in e and "rows" in e for e in errors)
    cli = subprocess.run(
        [sys.executable, "-m", "datahygiene", "verify", output], capture_output=True, cwd=REPO, check=False
    )
    assert cli.returncode == 1
    assert b"part-00003.parquet" in cli.stderr


@pytest.mark.slow
def test_sigkill_then_resume_on_s3_is_byte_identical(
    bucket: str, inputs: list[Path], config_path: Path, reference: Path
) -> None:
    output = f"{bucket}/killed"
    store = Store.open(output)
    process = _cli(config_path, inputs, output)
    deadline = time.monotonic() + 120
    while not store.exists("_commits/00002.json"):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = store.listing("_commits")
    assert 3 <= len(committed) < SHARDS, "the kill should land mid-run"
    assert store.exists("_lock.json"), "a killed run leaves its lock behind"
    # What an interrupted commit leaves: a part file that no commit record names.
    store.put_bytes("kept/part-00007.parquet", b"half a commit")
    store.put_bytes("_state/00007/id-hashes.u64", b"stray")

    again = _cli(config_path, inputs, output)  # without --resume: refused, nothing touched
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 2
    assert b"--resume" in stderr

    resumed = _cli(config_path, inputs, output, "--resume")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()
    assert _store_files(output) == _local_files(reference)
    assert verify_run(RunDir.at(output)) == []
    manifest = json.loads(store.read_bytes("manifest.json"))
    assert manifest["shards_committed"] == SHARDS
    assert not store.exists("_state/00007/id-hashes.u64") or store.read_bytes("_state/00007/id-hashes.u64") != b"stray"


def test_two_writers_racing_for_one_output(bucket: str, inputs: list[Path], config_path: Path) -> None:
    output = f"{bucket}/raced"
    first, second = _cli(config_path, inputs, output), _cli(config_path, inputs, output)
    codes = sorted(process.wait(timeout=300) for process in (first, second))
    errors = b"".join(p.stderr.read() for p in (first, second) if p.stderr is not None)
    assert codes == [0, 2], errors.decode()
    assert b"another run" in errors or b"not empty" in errors or b"already holds" in errors
    assert verify_run(RunDir.at(output)) == []


def test_a_held_lock_refuses_the_committer(bucket: str, inputs: list[Path], config_path: Path) -> None:
    from datahygiene.io.lease import ObjectLock

    output = f"{bucket}/held"
    holder = ObjectLock(Store.open(output), ttl=60)
    holder.acquire()
    try:
        with pytest.raises(OutputBusyError, match="another run is writing"):
            run(load_config(config_path), [str(inputs[0])], output)
    finally:
        holder.release()
    assert Store.open(output).listing() == []
