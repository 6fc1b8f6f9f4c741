"""Datasheet speed and memory: build time on a synthetic run, and vectorised vs per-row audit matching.

Usage: PYTHONPATH=src python bench/datasheet_bench.py [--rows 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.reports.datasheet import build_datasheet
from datahygiene.reports.datasheet.audit import AuditCounter, load_identity_terms

WORDS = [
    "the",
    "a",
    "weather",
    "report",
    "story",
    "note",
    "people",
    "muslim",
    "women",
    "gay",
    "deaf",
    "asian",
    "church",
    "market",
    "city",
    "river",
]


def make_run(root: Path, rows: int, files: int = 4) -> None:
    """A run directory with text, toxicity, blocklist and dup columns and a matching manifest.

    Files have row groups of 65,536 rows, as the runner writes them.
    """
    rng = np.random.default_rng(0)
    per_file = rows // files
    totals = {"kept": 0, "rejected": 0}
    reasons: dict[str, int] = {}
    for index in range(files):
        words = rng.choice(WORDS, size=(per_file, 12))
        text = pa.array([" ".join(w) for w in words])
        toxicity = rng.beta(1, 8, per_file).astype(np.float32)
        blocked = rng.random(per_file) < 0.02
        dup = rng.random(per_file) < 0.03
        lists = pa.array([["slurs"] if b else [] for b in blocked], pa.list_(pa.string()))
        row_reasons = [
            [r for r, hit in (("toxicity>0.8", t > 0.8), ("blocklist:slurs", b), ("dup:near", d)) if hit]
            for t, b, d in zip(toxicity, blocked, dup, strict=True)
        ]
        table = pa.table(
            {
                "id": [f"{index}-{i}" for i in range(per_file)],
                "text": text,
                "toxicity": toxicity,
                "blocklist_lists": lists,
                "dup_kind": pa.array(["near" if d else None for d in dup], pa.string()),
                "reject_reasons": pa.array(row_reasons, pa.list_(pa.string())),
            }
        )
        removed = np.array([bool(r) for r in row_reasons])
        for route, mask in (("kept", ~removed), ("rejected", removed)):
            (root / route).mkdir(exist_ok=True)
            pq.write_table(
                table.filter(pa.array(mask)), root / route / f"part-{index:05d}.parquet", row_group_size=65_536
            )
            totals[route] += int(mask.sum())
        for group in row_reasons:
            for reason in group:
                reasons[reason] = reasons.get(reason, 0) + 1
    manifest = {
        "rows_in": totals["kept"] + totals["rejected"],
        "rows_kept": totals["kept"],
        "rows_rejected": totals["rejected"],
        "rows_quarantined": 0,
        "reject_reasons": reasons,
        "shards": [],
        "models": [],
        "policy": [{"when": "toxicity > 0.8", "action": "reject", "reason": None}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def per_row_python(texts: Sequence[str | None], terms: dict[str, dict[str, list[str]]]) -> npt.NDArray[np.bool_]:
    """The naive alternative: one compiled Python regex per group, applied row by row."""
    patterns = [
        re.compile(r"\b(?:" + "|".join(re.escape(t) for t in group) + r")\b", re.IGNORECASE)
        for groups in terms.values()
        for group in groups.values()
    ]
    return np.array([[bool(text and p.search(text)) for p in patterns] for text in texts], dtype=bool)


def _child_peak_mib(root: Path) -> float:
    """Peak resident memory (VmHWM) of a new interpreter that imports datahygiene and builds the datasheet.

    ``ru_maxrss`` is not used: on Linux a child inherits its parent's high-water mark across fork and exec.
    """
    code = (
        "import sys; from pathlib import Path; from datahygiene.reports.datasheet import build_datasheet; "
        "build_datasheet(Path(sys.argv[1])); "
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for rows in (args.rows // 4, args.rows):
        with tempfile.TemporaryDirectory() as directory:
            root = Path(directory)
            make_run(root, rows)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                sheet = build_datasheet(root)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            print(
                f"build_datasheet: {sheet.counts['rows_in']} rows, median {median:.2f} s, "
                f"{sheet.counts['rows_in'] / median:,.0f} rows/s; peak RSS of a fresh process building it: "
                f"{_child_peak_mib(root):.0f} MiB"
            )
    terms = load_identity_terms()
    rng = np.random.default_rng(1)
    sample = [" ".join(w) for w in rng.choice(WORDS, size=(20_000, 12))]
    array = pa.array(sample)
    fast, slow = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        vectorised = AuditCounter(terms).matrix(array)
        fast.append(time.perf_counter() - started)
        started = time.perf_counter()
        naive = per_row_python(sample, terms)
        slow.append(time.perf_counter() - started)
    agree = float((vectorised == naive).mean())
    print(
        f"audit matching, 20000 rows x {vectorised.shape[1]} groups: pyarrow RE2 median "
        f"{statistics.median(fast) * 1000:.0f} ms, per-row Python re median {statistics.median(slow) * 1000:.0f} ms, "
        f"ratio {statistics.median(slow) / statistics.median(fast):.1f}x; agreement {agree:.4f}"
    )


if __name__ == "__main__":
    main()
