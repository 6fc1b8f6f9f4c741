"""Flow vs CLI: wall time of the same run through ``datahygiene run`` and the Prefect flow.

Usage (from the repository root)::

    PYTHONPATH=src:. .venv/bin/python bench/bench_flows.py [--shards 8] [--rows 50000] [--repeats 2]

Writes ``--shards`` Parquet shards of random texts (5% exact duplicates across
shards), then runs, interleaved, each ``--repeats`` times into a fresh output:

* ``cli``: :func:`datahygiene.engine.run.run` (score and commit in one process);
* ``flow-threads``: the flow with the thread task runner (``--workers``);
* ``flow-dask``: the flow on a Dask LocalCluster of ``--workers`` processes
  (cluster start-up included: it is paid by every run).

Config: text.stats, toxicity.profanity, blocklist (order-free, CPU-bound), and with
``--dedup`` the dedup stage (ordered: it runs in the committing process).
Prefect's temporary server starts once, before timing. Prints the median
seconds and rows/s of each mode and checks that every mode wrote the same
kept files as the CLI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODES = ("cli", "flow-threads", "flow-dask")


def make_inputs(directory: Path, shards: int, rows: int) -> list[str]:
    """Random 12-24 word texts over a 5,000-word vocabulary; every 20th row repeats across shards."""
    rng = np.random.default_rng(0)
    vocabulary = np.array([f"w{number}" for number in range(5000)])
    paths = []
    for shard in range(shards):
        lengths = rng.integers(12, 25, size=rows)
        texts = [" ".join(vocabulary[rng.integers(0, len(vocabulary), size=length)]) for length in lengths]
        for row in range(0, rows, 20):
            texts[row] = f"common line number {row} shared by every shard of the benchmark input"
        path = directory / f"part-{shard:03d}.parquet"
        pq.write_table(pa.table({"id": [f"{shard}-{row}" for row in range(rows)], "text": texts}), path)
        paths.append(str(path))
    return paths


def config(*, dedup: bool) -> dict[str, Any]:
    """Order-free scorers, plus the ordered dedup stage when ``dedup``."""
    stages: list[dict[str, Any]] = [
        {"name": "text.stats"},
        {"name": "toxicity.profanity"},
        {"name": "blocklist", "params": {"lists": ["profanity"]}},
    ]
    rules = [{"when": "toxicity > 0.8"}, {"when": "blocklist_lists not_empty", "reason": "blocklist:{value}"}]
    if dedup:
        stages.append({"name": "dedup"})
        rules.append({"when": "dup_kind not_null", "reason": "duplicate:{value}"})
    return {"stages": stages, "policy": {"rules": rules}}


def kept_bytes(output: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((output / "kept").glob("*.parquet"))}


def run_mode(mode: str, inputs: list[str], output: Path, workers: int, *, dedup: bool) -> float:
    from flows.hygiene import HygieneParams, TaskRunnerSettings, hygiene

    from datahygiene.core.config import parse_config
    from datahygiene.engine import workers as orchestrate
    from datahygiene.engine.run import run

    orchestrate.clear_scoring_cache()  # every mode loads its models, as a fresh process would
    started = time.perf_counter()
    if mode == "cli":
        result = run(parse_config(config(dedup=dedup)), inputs, output, write_documents=False)
        assert result.exit_code == 0
    else:
        kind = "threads" if mode == "flow-threads" else "dask"
        runner = TaskRunnerSettings(kind=kind, workers=workers)
        params = HygieneParams(
            inputs=inputs, output=str(output), config=config(dedup=dedup), write_datasheet=False, task_runner=runner
        )
        hygiene(params)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dedup", action="store_true", help="add the dedup stage (runs serially, in input order)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ.pop("PREFECT_API_URL", None)
        os.environ.update(
            PREFECT_HOME=str(root / "prefect"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        measure(root, args)


def measure(root: Path, args: argparse.Namespace) -> None:
    """Run every mode ``args.repeats`` times under one temporary Prefect server and print the figures."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        (root / "in").mkdir()
        inputs = make_inputs(root / "in", args.shards, args.rows)
        rows = args.shards * args.rows
        seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
        reference: dict[str, bytes] | None = None
        for repeat in range(args.repeats):
            for mode in MODES:
                output = root / f"{mode}-{repeat}"
                seconds[mode].append(run_mode(mode, inputs, output, args.workers, dedup=args.dedup))
                kept = kept_bytes(output)
                reference = reference or kept
                assert kept == reference, f"{mode} kept different rows"
        stages = "scorers + dedup" if args.dedup else "scorers"
        print(f"{args.shards} shards x {args.rows:,} rows, {stages}, {args.workers} workers, cpus={os.cpu_count()}")
        for mode in MODES:
            median = statistics.median(seconds[mode])
            runs = " ".join(f"{s:.1f}" for s in seconds[mode])
            print(f"{mode:13s} median {median:6.1f} s  {rows / median:9,.0f} rows/s  (runs: {runs})")
        print("kept files identical across modes: yes")


if __name__ == "__main__":
    main()
