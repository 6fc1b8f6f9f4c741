"""The ceiling of one committing process: rows/s and its peak RSS with scoring off and dedup on.

Usage (from the repository root)::

    PYTHONPATH=src:. .venv/bin/python bench/bench_scale.py --text-rows 200000 1000000 --images 100000 \\
        [--shards 16] [--modes cli dask-1 dask-2] [--repeats 3]

    # the two commands as a user runs them, whole processes, alternating, median of 3:
    PYTHONPATH=src:. .venv/bin/python bench/bench_scale.py --text-rows 200000 --images --repeats 3 \\
        --modes exe-run exe-part-1

For each input it writes Parquet shards once (texts: 30 random words over a
20,000-word vocabulary, every 10th row a planted copy of an earlier row, half of
them exact, half with one word changed; images: small JPEGs of random blocks,
every 10th one a re-encoded or resized copy of an earlier one), then runs,
each in a fresh process:

* ``cli``: ``datahygiene.engine.run.run`` with ``text.stats`` and ``dedup``
  (scoring stages off: nothing else to do);
* ``dask-N``: the Prefect flow on a Dask ``LocalCluster`` of N worker
  processes (same config; the order-free ``text.stats`` runs on the workers).
  On one worker dedup and every write happen in the flow's own process; on
  two or more, dedup is the partitioned phase and shards commit as tasks
  (docs/scale.md). ``dask-Np`` forces the partitioned phase, ``dask-Ns`` the
  serial commit, whatever N;
* ``part-N``: ``datahygiene.engine.phase_local.run_partitioned`` (what
  ``datahygiene run-partitioned`` runs: the flow's partitioned phase without an
  orchestrator), on N worker processes (1: all in this process);
* ``exe-run`` and ``exe-part-N``: the whole command, ``datahygiene run`` or
  ``datahygiene run-partitioned --workers N``, as a user starts it (start,
  imports, read, score, write): wall time measured from outside, peak RSS the
  largest of the command's processes (GNU ``time``'s ``%M``).

The number that matters is the *committing process*: for ``cli`` the run's
process, for ``dask-N`` the flow's process (the Dask workers are other
processes). Each child reports its own peak RSS (``VmHWM``) and the wall time
from before planning to the manifest (imports, Prefect's temporary server and
the cluster start are outside the clock for the flow: measured separately as
``setup``). Prints one line per (input, mode, repeat), with a digest of the
output Parquet files (equal digests: the same rows, bytes and decisions), the
median of the repeats when there are several (modes alternate within each
repeat), and the committing process's peak RSS per row between the two text sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

CONFIG: dict[str, Any] = {
    "batch_size": 8192,
    "image_batch_size": 256,
    "check_duplicate_ids": True,
    "stages": [{"name": "text.stats"}, {"name": "dedup"}],
    "policy": {"rules": [{"when": "dup_kind not_null", "reason": "duplicate:{value}"}]},
}


def make_texts(directory: Path, rows: int, shards: int) -> list[str]:
    """Text shards with planted exact and near copies of earlier rows."""
    rng = np.random.default_rng(1)
    vocabulary = np.array([f"w{n}" for n in range(20_000)])
    words = vocabulary[rng.integers(0, len(vocabulary), size=(rows, 30))]
    for row in range(10, rows, 10):
        source = int(rng.integers(0, row))
        words[row] = words[source]
        if row % 20 == 0:
            words[row, int(rng.integers(0, 30))] = "changed"
    texts = [" ".join(line) for line in words.tolist()]
    return _write_shards(directory, "texts", rows, shards, lambda a, b: {"text": texts[a:b]})


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def make_images(directory: Path, rows: int, shards: int) -> list[str]:
    """Image shards: 64x64 pictures of random 8x8 blocks; every 10th row re-encodes or resizes an earlier one."""
    rng = np.random.default_rng(2)
    pictures: list[bytes] = []
    for row in range(rows):
        if row >= 10 and row % 10 == 0:
            source = Image.open(io.BytesIO(pictures[int(rng.integers(0, row))]))
            variant = source.resize((48, 48)) if row % 20 == 0 else source
            pictures.append(_jpeg(variant.convert("RGB"), 70))
            continue
        blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        picture = Image.fromarray(blocks).resize((64, 64), Image.Resampling.BILINEAR)
        pictures.append(_jpeg(picture, 90))

    def columns(start: int, stop: int) -> dict[str, Any]:
        return {"image": pa.array([{"bytes": p, "path": None} for p in pictures[start:stop]])}

    return _write_shards(directory, "images", rows, shards, columns)


def _write_shards(directory: Path, name: str, rows: int, shards: int, columns: Any) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    bounds = np.linspace(0, rows, shards + 1).astype(int)
    for shard, (start, stop) in enumerate(itertools.pairwise(bounds)):
        path = directory / f"{name}-{shard:04d}.parquet"
        table = pa.table({"id": [f"{name}-{n}" for n in range(start, stop)], **columns(int(start), int(stop))})
        pq.write_table(table, path)
        paths.append(str(path))
    return paths


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, inputs: list[str], output: str) -> None:
    """One measurement in this fresh process; prints JSON."""
    import pandas  # noqa: F401  (pyarrow.compute loads it on first use; outside the clock for every mode)

    from datahygiene.core.config import parse_config

    config = parse_config(CONFIG)
    if mode == "cli" or mode.startswith("part-"):
        from datahygiene.engine.phase_local import run_partitioned
        from datahygiene.engine.run import run

        started = time.perf_counter()
        if mode == "cli":
            result = run(config, inputs, Path(output), write_documents=False)
        else:
            result = run_partitioned(config, inputs, Path(output), workers=int(mode[5:]), write_documents=False)
        seconds = time.perf_counter() - started
        manifest = result.manifest
        setup = 0.0
    else:
        spec = mode.split("-")[1]  # N workers; a trailing p forces the partitioned phase, s the serial commit
        workers = int(spec.rstrip("ps"))
        partitioned = {"p": True, "s": False}.get(spec[-1])
        from flows.hygiene import HygieneParams, TaskRunnerSettings, hygiene, shared_temporary_server

        settings = TaskRunnerSettings(kind="dask", workers=workers, partitioned=partitioned)
        params = HygieneParams(inputs=inputs, output=output, config=CONFIG, write_datasheet=False, task_runner=settings)
        begun = time.perf_counter()
        with shared_temporary_server(settings):
            setup = time.perf_counter() - begun
            started = time.perf_counter()
            state = hygiene(params, return_state=True)
            seconds = time.perf_counter() - started
        assert state.is_completed()
        manifest = json.loads((Path(output) / "manifest.json").read_text())
    print(
        json.dumps(
            {
                "rows": manifest["rows_in"],
                "duplicates": sum(v for k, v in manifest["reject_reasons"].items() if k.startswith("duplicate:")),
                "seconds": seconds,
                "setup_seconds": setup,
                "peak_rss_mib": _peak_mib(),
            }
        )
    )


def digest(output: Path) -> str:
    """A short hash of every output Parquet file (kept, rejected, quarantined), by relative path."""
    sha = hashlib.sha256()
    for path in sorted(output.glob("*/*.parquet")):
        sha.update(str(path.relative_to(output)).encode() + path.read_bytes())
    return sha.hexdigest()[:10]


def measure_command(mode: str, inputs: list[str], scratch: Path, output: str) -> dict[str, float]:
    """The ``datahygiene`` command as a user runs it: wall time from outside, the largest process's peak RSS."""
    import yaml

    config = scratch / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    command = [sys.executable, "-m", "datahygiene", "run"]
    if mode.startswith("exe-part-"):
        command = [*command[:-1], "run-partitioned", "--workers", mode.removeprefix("exe-part-")]
    command += [*itertools.chain.from_iterable(("-i", path) for path in inputs), "-o", output, str(config)]
    # GNU time reports the command's own peak (the largest of its processes); this process's ``wait4`` would not:
    # a forked child's maximum RSS starts from the parent's size at the fork, which holds the generated rows.
    started = time.perf_counter()
    completed = subprocess.run(
        ["/usr/bin/time", "-f", "peak_kib=%M", *command, "--no-datasheet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    peak = next(line for line in reversed(completed.stderr.splitlines()) if line.startswith("peak_kib="))
    manifest = json.loads((Path(output) / "manifest.json").read_text())
    duplicates = sum(v for k, v in manifest["reject_reasons"].items() if k.startswith("duplicate:"))
    return {
        "rows": manifest["rows_in"],
        "duplicates": duplicates,
        "seconds": seconds,
        "setup_seconds": 0.0,
        "peak_rss_mib": int(peak.removeprefix("peak_kib=")) / 1024,
    }


def measure(mode: str, inputs: list[str], scratch: Path) -> dict[str, Any]:
    output = str(Path(tempfile.mkdtemp(dir=scratch)) / "out")
    if mode.startswith("exe-"):
        return {**measure_command(mode, inputs, scratch, output), "digest": digest(Path(output))}
    listing = scratch / f"inputs-{time.monotonic_ns()}.json"
    listing.write_text(json.dumps(inputs))
    environment = {
        **os.environ,
        "PREFECT_HOME": str(scratch / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(listing), output],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return {**result, "digest": digest(Path(output))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text-rows", type=int, nargs="*", default=[200_000, 1_000_000])
    parser.add_argument("--images", type=int, nargs="*", default=[100_000])
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--modes", nargs="+", default=["cli", "dask-1", "dask-2"])
    parser.add_argument("--repeats", type=int, default=1, help="alternate the modes this many times; medians")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "INPUTS", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, listing, output = args.child
        child(mode, json.loads(Path(listing).read_text()), output)
        return
    columns = ("input", 16), ("mode", 10), ("rows/s", 9), ("seconds", 8), ("setup s", 8), ("peak RSS MiB", 12)
    print(" ".join(f"{name:>{width}}" for name, width in (*columns, ("dups", 8))), "digest")
    text_peaks: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        datasets = [(f"text {n:,}", n, make_texts, "texts") for n in args.text_rows]
        datasets += [(f"images {n:,}", n, make_images, "images") for n in args.images]
        for label, rows, make, kind in datasets:
            inputs = make(scratch / f"{kind}-{rows}", rows, args.shards)
            runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in args.modes}
            for _ in range(args.repeats):
                for mode in args.modes:  # alternating: each repeat runs every mode once, in turn
                    result = measure(mode, inputs, scratch)
                    runs[mode].append(result)
                    _line(label, mode, result)
            if args.repeats > 1:
                for mode, results in runs.items():
                    median = {key: statistics.median(r[key] for r in results) for key in _NUMBERS}
                    _line(label, f"{mode} med", {**median, "digest": results[0]["digest"]})
            for mode, results in runs.items():
                if kind == "texts":
                    text_peaks.setdefault(mode, {})[rows] = statistics.median(r["peak_rss_mib"] for r in results)
    for mode, peaks in text_peaks.items():
        if len(peaks) > 1:
            small, large = min(peaks), max(peaks)
            per_row = (peaks[large] - peaks[small]) * (1 << 20) / (large - small)
            print(f"{mode}: committing process peak RSS grows {per_row:,.0f} B per text row ({small:,} -> {large:,})")


_NUMBERS = ("rows", "duplicates", "seconds", "setup_seconds", "peak_rss_mib")


def _line(label: str, mode: str, result: dict[str, Any]) -> None:
    rate = result["rows"] / result["seconds"]
    print(
        f"{label:>16} {mode:>10} {rate:>9,.0f} {result['seconds']:>8.1f} {result['setup_seconds']:>8.1f} "
        f"{result['peak_rss_mib']:>12,.0f} {int(result['duplicates']):>8,} {result['digest']}",
        flush=True,
    )


if __name__ == "__main__":
    main()
