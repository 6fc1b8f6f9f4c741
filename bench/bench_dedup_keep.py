"""What deciding whole shards costs: dedup's ``keep`` rules and rights inheritance, end to end.

Usage::

    PYTHONPATH=src:. .venv/bin/python bench/bench_dedup_keep.py [--rows 200000] [--repeats 3]

One Parquet file of short texts (a tenth of them copies of earlier rows, some copies with a copyright notice)
runs through ``datahygiene.engine.run.run`` with the stages ``rights.copyright`` and ``dedup`` (no model), each
time in a fresh subprocess, modes interleaved so machine noise hits them alike:

* ``streaming``: ``inherit: []`` and ``keep: first``: each batch decided as it arrives (what dedup did before);
* ``inherit``: the default (``keep: first``, inherit copyright and synthetic signals): the committer shows the
  stage the whole shard first, so the CLI keeps a copy of the scored shard (``_tmp/lookahead-*.arrow``);
* ``largest``: ``keep: largest``: the shard's dedup features are also held until it is decided.

Prints the median seconds and peak RSS of each and the ratios to ``streaming``.
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
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MODES: dict[str, dict[str, Any]] = {
    "streaming": {"inherit": []},
    "inherit": {},
    "largest": {"keep": "largest"},
}


def make_input(path: Path, rows: int) -> None:
    """Texts of 8-40 words from a 5,000-word vocabulary; every tenth row repeats an earlier one."""
    import random

    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(5000)]
    texts: list[str] = []
    for i in range(rows):
        if i % 10 == 9 and texts:
            earlier = texts[rng.randrange(len(texts))]
            texts.append(earlier + (" (c) 2024 Example Press. All rights reserved." if i % 20 == 19 else ""))
        else:
            texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 40))))
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(rows)], "text": texts}), path, row_group_size=65_536)


def child(mode: str, source: Path, output: Path) -> None:
    """One measurement in this fresh process (imports before the clock), printed as JSON."""
    import pandas  # noqa: F401

    from datahygiene.core.config import parse_config
    from datahygiene.engine.run import run

    config = parse_config(
        {
            "stages": [{"name": "rights.copyright"}, {"name": "dedup", "params": MODES[mode]}],
            "policy": {"rules": [{"when": "dup_kind not_null", "reason": "duplicate:{value}"}]},
        }
    )
    started = time.perf_counter()
    result = run(config, [str(source)], output, write_documents=False)
    seconds = time.perf_counter() - started
    assert result.exit_code == 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "kept": result.manifest["rows_kept"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "texts.parquet"
        make_input(source, args.rows)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for repeat in range(args.repeats):
            for mode in MODES:
                output = Path(scratch) / f"{mode}-{repeat}"
                done = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(source), str(output)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
        base = statistics.median(r["seconds"] for r in runs["streaming"])
        base_rss = statistics.median(r["peak_rss_mib"] for r in runs["streaming"])
        print(f"{args.rows:,} rows, median of {args.repeats}:")
        for mode, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            rss = statistics.median(r["peak_rss_mib"] for r in results)
            print(
                f"  {mode:10s} {seconds:7.2f} s ({seconds / base:.2f}x)  peak RSS {rss:7.0f} MiB "
                f"({rss / base_rss:.2f}x)  kept {int(results[0]['kept']):,}"
            )


if __name__ == "__main__":
    main()
