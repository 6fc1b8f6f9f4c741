"""Runner overhead: end-to-end rows/s and peak RSS with no model stages vs raw pyarrow.

Usage::

    .venv/bin/python bench/bench_runner.py [--sizes 100000 1000000] [--repeats 3]

For each size it writes one Parquet file of short texts (with ids), then, each
in a fresh subprocess and interleaved so that machine noise hits both alike:

* ``raw``: pyarrow reads the file in batches and writes it to a new Parquet
  file (the floor any Parquet-to-Parquet pipeline pays);
* ``runner``: ``datahygiene.engine.run.run`` with no stages and no rules (input
  normalisation, the duplicate-id check, policy, routing, two-phase commit,
  sha256 of outputs and the invariant check; the datasheet, which has its
  own benchmark in ``bench/datasheet_bench.py``, is not written);
* ``runner-no-ids``: the same with ``check_duplicate_ids: false`` (the only
  part whose memory grows with the data: a hash table of 16 bytes per id).

It prints the median rows/s and peak RSS of each, the runner/raw rate ratio
(target >= 0.5) and the runner's RSS ratio between the largest and smallest
size (target <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MODES = ("raw", "runner", "runner-no-ids")
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "hex",
]


def make_input(path: Path, rows: int) -> None:
    """Short texts of 5-15 words, unique ids, written in row groups of 64k."""
    writer = pq.ParquetWriter(path, pa.schema([("id", pa.string()), ("text", pa.string())]))
    chunk = 65_536
    for start in range(0, rows, chunk):
        count = min(chunk, rows - start)
        ids = [f"doc-{i}" for i in range(start, start + count)]
        texts = [
            " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(5 + i % 11)) for i in range(start, start + count)
        ]
        writer.write_table(pa.table({"id": ids, "text": texts}))
    writer.close()


def _raw(source: Path, output: Path) -> int:
    output.mkdir(parents=True)
    parquet = pq.ParquetFile(source)
    writer = pq.ParquetWriter(output / "part-00000.parquet", parquet.schema_arrow, compression="zstd")
    rows = 0
    for batch in parquet.iter_batches(batch_size=8192):
        writer.write_batch(batch)
        rows += batch.num_rows
    writer.close()
    return rows


def _runner(source: Path, output: Path, *, check_ids: bool = True) -> int:
    from datahygiene.core.config import parse_config
    from datahygiene.engine.run import run

    config = parse_config({"stages": [], "check_duplicate_ids": check_ids})
    result = run(config, [str(source)], output, write_documents=False)
    assert result.exit_code == 0, result.invariant_errors
    rows: int = result.manifest["rows_in"]
    return rows


def child(mode: str, source: Path, output: Path) -> None:
    """Run one measurement in this (fresh) process and print JSON.

    Module imports happen before the clock starts for both modes (the runner's
    own imports cost about half a second once per process, not per row; pandas
    is imported up front because pyarrow.compute loads it on first use).
    """
    import pandas  # noqa: F401

    if mode != "raw":
        import datahygiene.engine.run  # noqa: F401
    started = time.perf_counter()
    rows = _raw(source, output) if mode == "raw" else _runner(source, output, check_ids=mode == "runner")
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mib": peak_kib / 1024}))


def measure(mode: str, source: Path, scratch: Path) -> dict[str, float]:
    output = Path(tempfile.mkdtemp(dir=scratch)) / "out"
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(source), str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, source, output = args.child
        child(mode, Path(source), Path(output))
        return
    peak_by_size: dict[str, dict[int, float]] = {}
    print(f"{'rows':>9} {'mode':>13} {'rows/s (median)':>16} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        for size in args.sizes:
            source = scratch / f"texts-{size}.parquet"
            make_input(source, size)
            samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            for _ in range(args.repeats):
                for mode in MODES:
                    samples[mode].append(measure(mode, source, scratch))
            rates = {m: statistics.median(s["rows"] / s["seconds"] for s in samples[m]) for m in samples}
            peaks = {m: statistics.median(s["peak_rss_mib"] for s in samples[m]) for m in samples}
            for mode in MODES:
                print(f"{size:>9} {mode:>13} {rates[mode]:>16,.0f} {peaks[mode]:>13.0f}")
            for mode in MODES[1:]:
                print(f"{size:>9} {mode}/raw rate ratio: {rates[mode] / rates['raw']:.2f} (target >= 0.50)")
                peak_by_size.setdefault(mode, {})[size] = peaks[mode]
    for mode, peaks_of_mode in peak_by_size.items():
        if len(peaks_of_mode) > 1:
            small, large = min(peaks_of_mode), max(peaks_of_mode)
            ratio = peaks_of_mode[large] / peaks_of_mode[small]
            print(f"{mode} peak RSS at {large:,} / at {small:,} rows: {ratio:.2f} (target <= 1.30)")


if __name__ == "__main__":
    main()
