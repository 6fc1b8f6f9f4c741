"""Inputs and a config for the flow tests: text shards with cross-shard duplicates plus the demo data."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from datahygiene.cli.demo import make_demo
from datahygiene.core.config import RunConfig, parse_config
from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, ParamsT, StageBase, StageParams

TEXT_SHARDS = 4
ROWS = 50


ROUTES = ("kept", "rejected", "quarantined")
_TIMINGS = ("seconds", "started_at", "finished_at", "duration_seconds")


def output_files(directory: Path) -> dict[str, bytes]:
    """Every Parquet output file by relative path."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for route in ROUTES
        for path in sorted((directory / route).glob("*.parquet"))
    }


def comparable_manifest(directory: Path) -> dict[str, Any]:
    """The manifest without timings."""
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    for key in _TIMINGS:
        manifest.pop(key, None)
    manifest["stages"] = _comparable_stages(manifest.get("stages", []))
    for shard in manifest["shards"]:
        shard.pop("seconds", None)
        if "stages" in shard:
            shard["stages"] = _comparable_stages(shard["stages"])
    return manifest


def _comparable_stages(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-stage rows, without times and bytes, and without the flow committer's second image decode.

    Bytes are Arrow buffer sizes: a batch read back from a spool can lack a validity bitmap the in-memory one had.
    """
    return [
        {key: value for key, value in entry.items() if key not in ("seconds", "rows_per_second", "bytes")}
        for entry in entries
        if entry["stage"] != "redecode"
    ]


def make_inputs(directory: Path, *, demo: bool = True) -> list[str]:
    """Text shards (exact and near duplicates across shards, an empty text, a blocklisted word) and the demo."""
    directory.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    for shard in range(TEXT_SHARDS):
        texts = [f"shard {shard} sentence number {row} about the harbour and its boats" for row in range(ROWS)]
        texts[3] = "the same sentence appears in every shard of this dataset"
        texts[4] = f"an almost identical line that differs only at the end, copy {shard}"
        texts[5] = "" if shard % 2 else "what a fucking mess"
        ids = [f"s{shard}-{row}" for row in range(ROWS)]
        ids[6] = "s0-0"  # an id reused across shards
        path = directory / f"text-{shard}.parquet"
        pq.write_table(pa.table({"id": ids, "text": texts}), path)
        inputs.append(str(path))
    if demo:
        make_demo(directory / "demo")
        inputs += [str(directory / "demo" / name) for name in ("texts.jsonl", "pairs.parquet", "photos")]
    return inputs


NOTICE = " Copyright 2021 Harbour Press. All rights reserved."
DISCLOSURE = " #aiart"


def make_rights_inputs(directory: Path, shards: int = 3) -> list[str]:
    """Text shards whose duplicate clusters carry rights and provenance signals on some copies only.

    In each shard: a plain text, later a copy with a copyright notice (the longest), later a copy with an AI
    disclosure; and one text whose plain copy is in this shard and whose noticed copy is in the next one.
    """
    import random

    directory.mkdir(parents=True, exist_ok=True)
    words = [f"tide{i}" for i in range(400)]
    rng = random.Random(5)

    def text() -> str:
        return " ".join(rng.choice(words) for _ in range(60))

    carried = text()
    inputs: list[str] = []
    for shard in range(shards):
        base, nxt = text(), text()
        texts = [text() for _ in range(12)]
        texts[1], texts[5], texts[9] = base, base + NOTICE, base + DISCLOSURE
        texts[3], texts[7] = carried + NOTICE, nxt
        carried = nxt
        ids = [f"r{shard}-{row}" for row in range(len(texts))]
        path = directory / f"rights-{shard}.parquet"
        pq.write_table(pa.table({"id": ids, "text": texts}), path)
        inputs.append(str(path))
    return inputs


def rights_config(keep: str = "first", **dedup: Any) -> dict[str, Any]:
    """:func:`config_dict` with the rights and provenance stages before dedup and dedup's ``keep`` rule."""
    config = config_dict()
    config["stages"][-1:-1] = [
        {"name": "rights.copyright"},
        {"name": "provenance.synthetic", "params": {"watermark": False}},
    ]
    config["stages"][-1] = {"name": "dedup", "params": {"keep": keep, **dedup}}
    return config


def config_dict(**extra: Any) -> dict[str, Any]:
    """A fast config with an order-free part (text.stats, blocklist) and an ordered part (dedup)."""
    return {
        "batch_size": 16,
        "image_batch_size": 4,
        "stages": [
            {"name": "text.stats"},
            {"name": "blocklist", "params": {"lists": ["profanity"]}},
            {"name": "dedup"},
        ],
        "policy": {
            "rules": [
                {"when": "blocklist_lists not_empty", "reason": "blocklist:{value}"},
                {"when": "dup_kind not_null", "reason": "duplicate:{value}"},
            ]
        },
        **extra,
    }


def flow_config(**extra: Any) -> RunConfig:
    return parse_config(config_dict(**extra))


def write_config(path: Path, **extra: Any) -> Path:
    path.write_text(yaml.safe_dump(config_dict(**extra)))
    return path


class _SideEffectStage(StageBase[ParamsT]):
    """A test stage that adds no column; only its side effect matters."""

    def output_schema(self) -> pa.Schema:
        return pa.schema([])


class _SleepParams(StageParams):
    seconds: float = 0.0


@register("test.sleep")
class SleepStage(_SideEffectStage[_SleepParams]):
    """Adds nothing; sleeps per batch so that a kill lands while later shards are still running."""

    Params: ClassVar[type[StageParams]] = _SleepParams

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        time.sleep(self.params.seconds)
        return {}


class _FlakyParams(StageParams):
    counter: str
    failures: int = 1
    error: str = "eio"


@register("test.flaky")
class FlakyStage(_SideEffectStage[_FlakyParams]):
    """Raises on its first ``failures`` batches (counted in a file, across retries and processes)."""

    Params: ClassVar[type[StageParams]] = _FlakyParams

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        counter = Path(self.params.counter)
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        if calls <= self.params.failures:
            if self.params.error == "eio":
                raise OSError(errno.EIO, "input/output error on the network share")
            raise ValueError("a bug, not a transient error")
        return {}


def kill_flow_after_first_commit(
    config_path: Path, inputs: list[str], output: Path, index: Path, prefect_server: str, *flags: str, wait: float = 120
) -> dict[str, int]:
    """Start ``flows/hygiene.py`` on one worker, SIGKILL it once its first shard committed; commit record -> mtime.

    Asserts the kill landed mid-run: at least one shard committed, not all, and no manifest.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    command = [sys.executable, str(REPO / "flows" / "hygiene.py"), "--config", str(config_path), *flags]
    command += ["--output", str(output), "--workers", "1", "--no-datasheet", "--dedup-index", str(index)]
    for path in inputs:
        command += ["--input", path]
    environment = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
    }
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + wait
    while not (output / "_commits" / "00000.json").exists():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first_commits = {path.name: path.stat().st_mtime_ns for path in (output / "_commits").glob("*.json")}
    assert 1 <= len(first_commits) < len(inputs), "the kill should land mid-run"
    assert not (output / "manifest.json").exists()
    return first_commits
