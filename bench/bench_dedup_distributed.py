"""Partitioned text dedup (``dedup.distributed``) against the single-process ``dedup`` stage, same rows.

Rows as in ``bench_dedup_text.py --scale``: 50 real words drawn at random from the corpus, 10% planted copies.
They are written once as Parquet shards; each path then runs in its own process (so peak RSS is its own),
reading the shards batch by batch, and the parent checks that both give the same ``dup_of`` for every row.

    PYTHONPATH=src python bench/bench_dedup_distributed.py /usr/share/doc --rows 200000 --shards 8 --partitions 4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench_dedup_text import load_corpus, planted_rows
from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.dedup import distributed
from datahygiene.stages.dedup.dedup_stage import DedupStage
from datahygiene.stages.dedup.params import DedupParams

PARAMS: dict[str, Any] = {"near_image": {"enabled": False}}


def peak_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ``ru_maxrss`` it does not carry the parent's size over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_shards(texts: list[str], shards: int, folder: Path) -> list[Path]:
    """The rows as ``shards`` Parquet files (``id`` = global row number)."""
    size = -(-len(texts) // shards)
    paths = []
    for k, start in enumerate(range(0, len(texts), size)):
        chunk = texts[start : start + size]
        ids = [str(i) for i in range(start, start + len(chunk))]
        paths.append(folder / f"in-{k:03d}.parquet")
        pq.write_table(pa.table({"id": ids, "text": chunk}), paths[-1])
    return paths


def run_single(paths: list[Path]) -> tuple[list[Any], dict[str, Any]]:
    """The stage as the runner calls it: batches of 8,192 rows, shard after shard."""
    stage = DedupStage(DedupParams.model_validate(PARAMS), StageContext())
    dup_of: list[Any] = []
    for path in paths:
        for records in pq.ParquetFile(str(path)).iter_batches(batch_size=8192):
            dup_of += stage.process(Batch(records=records))["dup_of"].to_pylist()
    return dup_of, {"index_bytes": sum(stage.state.nbytes().values())}


def run_partitioned(paths: list[Path], partitions: int, workers: int, work: Path) -> tuple[list[Any], dict[str, Any]]:
    """All five steps in this process, or on a local Dask cluster of ``workers`` threads-only workers."""
    params = DedupParams.model_validate(PARAMS)
    if workers:
        from dask.distributed import Client, LocalCluster

        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            outputs, summary = distributed.run(paths, work, params, partitions=partitions, client=client)
    else:
        outputs, summary = distributed.run(paths, work, params, partitions=partitions)
    dup_of: list[Any] = []
    for out in outputs:
        dup_of += pq.read_table(out).column("dup_of").to_pylist()
    return dup_of, summary


def child(args: argparse.Namespace) -> None:
    """One path in this process; prints one JSON line and writes ``dup_of`` to ``args.save``."""
    paths = sorted(Path(args.shard_dir).glob("in-*.parquet"))
    base = peak_mib()
    t0 = time.perf_counter()
    if args.child == "single":
        dup_of, info = run_single(paths)
    else:
        dup_of, info = run_partitioned(paths, args.partitions, args.workers, Path(args.shard_dir) / "work")
    took = time.perf_counter() - t0
    pq.write_table(pa.table({"dup_of": pa.array(dup_of, pa.string())}), args.save)
    print(json.dumps({"seconds": took, "peak_mib": peak_mib(), "rss_before_mib": base, **info}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--workers", type=int, default=0, help="Dask LocalCluster workers (0: in-process)")
    parser.add_argument("--only", choices=["single", "partitioned"], help="run one path (no comparison)")
    parser.add_argument("--child", choices=["single", "partitioned"])
    parser.add_argument("--shard-dir")
    parser.add_argument("--save")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    texts, planted = planted_rows(load_corpus(args.paths), args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_shards(texts, args.shards, folder)
        del texts
        results: dict[str, dict[str, Any]] = {}
        columns: dict[str, list[Any]] = {}
        for mode in [args.only] if args.only else ["single", "partitioned"]:
            save = folder / f"{mode}.parquet"
            command = [sys.executable, __file__, "--child", mode, "--shard-dir", tmp, "--save", str(save)]
            command += ["--partitions", str(args.partitions), "--workers", str(args.workers)]
            line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[mode] = json.loads(line)
            columns[mode] = pq.read_table(save).column("dup_of").to_pylist()
    same = columns["single"] == columns["partitioned"] if len(columns) == 2 else "not compared"
    last = columns[list(columns)[-1]]
    found = sum(last[k] is not None for k in planted)
    marked = sum(d is not None for d in last)
    print(f"rows {args.rows:,} in {args.shards} shards, {args.partitions} partitions, workers {args.workers or 'none'}")
    print(f"identical dup_of: {same}; marked {marked:,}; planted found {found:,} / {len(planted):,}")
    for mode, r in results.items():
        print(
            f"{mode}: {r['seconds']:.1f} s ({args.rows / r['seconds']:,.0f} rows/s), peak RSS {r['peak_mib']:.0f} MiB",
            end="",
        )
        print(f" (after imports {r['rss_before_mib']:.0f} MiB)")
    if "partitioned" in results:
        part = results["partitioned"]
        spilled = part["spilled_bytes"]
        print(f"partitioned: spilled {spilled / args.rows:.0f} B/row ({spilled >> 20} MiB),", end="")
        print(f" {part['candidate_edges']:,} candidate edges, {part['candidate_rows']:,} candidate rows")
    if "single" in results:
        print(f"single: in-memory index {results['single']['index_bytes'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
