"""The default config end to end against one MiniLM pass over each row's first 256 tokens, in the same run.

Two corpora, both text this project did not write (see ``bench/toxicity_corpus.py``): (a) long documents from
``/usr/share/doc`` and the installed packages' licence files, (b) the HateCheck test cases (short texts). For each,
two whole processes run alternately (ABBA order), ``--repeats`` times each, after one untimed warm-up run of each (it
fills the ONNX export cache; its time is printed too):

- ``datahygiene run -i CORPUS.jsonl -o OUT --offline`` with the default config (every stage, policy, ledger,
  manifest, datasheet), plus any ``--set`` overrides you pass (printed; the target is stated for none);
- ``python bench/minilm_harness.py CORPUS.jsonl OUT.parquet``: read, tokenize to 256 tokens, MiniLM via
  transformers/torch, one linear head, write the scores.

Prints median wall seconds, the ratio (target: default config <= 4x the harness on both corpora), peak RSS of each
process tree (``ru_maxrss`` from ``wait4``; this parent imports no model library, so it passes no large high-water
mark on to its children) and checks that every row of the default run is accounted for (read = kept + rejected +
quarantined, against the manifest).

    PYTHONPATH=src python bench/bench_toxicity_corpus.py [--max-docs 1000] [--max-short N] [--repeats 3]
        [--only docs|short]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from toxicity_corpus import build_documents, build_short

REPO = Path(__file__).resolve().parents[1]
HEADS = REPO / "src" / "datahygiene" / "data" / "heads"
#: ``../shared/eval-data`` beside the checkout, or ``$DATAHYGIENE_EVAL_DATA`` (as in the tests).
EVAL_DATA = Path(os.environ.get("DATAHYGIENE_EVAL_DATA", REPO.parent / "shared" / "eval-data"))
HATECHECK = EVAL_DATA / "hatecheck" / "test_suite_cases.csv"


@dataclass
class Timings:
    """Wall seconds and peak RSS (MiB) of each timed run of one contender."""

    seconds: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``command`` to completion; wall seconds and peak RSS (MiB) of its process tree. Fails loudly on error."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{err.decode(errors='replace')[-3000:]}")
    return took, usage.ru_maxrss / 1024


def harness_head() -> Path:
    """A shipped MiniLM linear head for the harness (any one: the cost is the same)."""
    heads = sorted(HEADS.glob("minilm_*.json"))
    if not heads:
        raise SystemExit(f"no MiniLM head in {HEADS}")
    return heads[0]


def check_accounting(out: Path, rows: int) -> dict[str, int]:
    """Row totals of the default run's manifest; every input row must be kept, rejected or quarantined."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    totals = {key: int(manifest[key]) for key in ("rows_in", "rows_kept", "rows_rejected", "rows_quarantined")}
    if totals["rows_in"] != rows or rows != totals["rows_kept"] + totals["rows_rejected"] + totals["rows_quarantined"]:
        raise SystemExit(f"rows not accounted for: {rows} input rows, manifest {totals}")
    return totals


def bench_corpus(name: str, corpus: Path, rows: int, args: argparse.Namespace, work: Path) -> float:
    """Warm-up, then alternating timed runs; print medians, ratio and RSS; return the ratio."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    overrides = [arg for item in args.set for arg in ("--set", item)]
    head = harness_head()

    def default_run(tag: str) -> tuple[float, float]:
        out = work / f"{name}-run-{tag}"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-m", "datahygiene", "run", "-i", str(corpus), "-o", str(out), "--offline"]
        result = timed(command + overrides, env)
        totals = check_accounting(out, rows)
        shutil.rmtree(out)
        if tag == "warm-up":
            print(f"  default run rows: {totals}")
        return result

    def harness_run(tag: str) -> tuple[float, float]:
        out = work / f"{name}-harness-{tag}.parquet"
        command = [
            sys.executable,
            str(REPO / "bench" / "minilm_harness.py"),
            str(corpus),
            str(out),
            "--head",
            str(head),
        ]
        result = timed(command, env)
        out.unlink()
        return result

    contenders = {"default config": default_run, "minilm harness": harness_run}
    for label, run in contenders.items():
        secs, mib = run("warm-up")
        print(f"  warm-up {label}: {secs:.1f} s, peak RSS {mib:.0f} MiB (fills the ONNX cache on a first run)")
    timings = {label: Timings() for label in contenders}
    for repeat in range(args.repeats):
        order = list(contenders) if repeat % 2 == 0 else list(reversed(contenders))
        for label in order:
            secs, mib = contenders[label](str(repeat))
            timings[label].seconds.append(secs)
            timings[label].peak_mib.append(mib)
            print(f"  run {repeat + 1} {label}: {secs:.1f} s, peak RSS {mib:.0f} MiB", flush=True)
    medians = {label: statistics.median(t.seconds) for label, t in timings.items()}
    ratio = medians["default config"] / medians["minilm harness"]
    for label, t in timings.items():
        print(
            f"  {label:15s} median {medians[label]:7.1f} s  ({rows / medians[label]:7.1f} rows/s)  "
            f"peak RSS {max(t.peak_mib):.0f} MiB"
        )
    print(f"  ratio default config / one MiniLM pass over 256 tokens: {ratio:.2f}x (target <= 4x)")
    return ratio


def main() -> None:
    """Build the corpora, run both contenders on each, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-docs", type=int, default=1000, help="long documents taken (evenly over the sources)")
    parser.add_argument("--max-short", type=int, help="short texts taken (evenly over HateCheck; default all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["docs", "short"], help="run one corpus only")
    parser.add_argument("--set", action="append", default=[], help="config override passed to datahygiene run")
    parser.add_argument("--hatecheck", type=Path, default=HATECHECK)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.set:
        print(f"config overrides (not the default config): {args.set}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ratios = {}
        if args.only in (None, "docs"):
            docs = work / "documents.jsonl"
            counts = build_documents(docs, args.max_docs)
            print(
                f"(a) long documents: {counts['docs']} docs, {counts['chars'] / 1e6:.1f} M chars, "
                f"{counts['words']:,} words"
            )
            ratios["documents"] = bench_corpus("docs", docs, counts["docs"], args, work)
        if args.only in (None, "short"):
            short = work / "short.jsonl"
            counts = build_short(short, args.hatecheck, args.max_short)
            print(f"(b) short texts (HateCheck): {counts['docs']} texts, {counts['chars'] / 1e3:.0f} k chars")
            ratios["short texts"] = bench_corpus("short", short, counts["docs"], args, work)
    print("summary: " + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items()) + " (target <= 4x each)")


if __name__ == "__main__":
    main()
