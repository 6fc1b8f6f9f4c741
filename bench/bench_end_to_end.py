"""Whole-process benchmarks: ``datahygiene run`` start to exit against the harness a user would write.

Each comparison runs the commands alternately in fresh processes (``--repeats`` rounds), takes the median
wall time and the median peak RSS (the sum over the process and its children, sampled every 20 ms with
psutil, so a worker pool counts in full), and prints the ratios. Corpora are built once under ``--work``
from files on this machine (see ``e2e_corpora.py``) and reused.

    python bench/bench_end_to_end.py text    # dedup on 20,000 real documents vs the rensa loop
    python bench/bench_end_to_end.py images  # image dedup on 2,000 JPEGs vs imagehash in 2 processes
    python bench/bench_end_to_end.py memory  # minimal config, peak RSS at 20,000 and 100,000 long documents
    python bench/bench_end_to_end.py start   # `datahygiene --help` and `datahygiene stages`

Targets (issue 15): text >= 1.5x the rensa loop's speed at <= 2x its peak RSS; images >= 1.5x the
imagehash harness, <= 300 MB at 2,000 images and flat at 20,000; minimal config <= 600 MB at 20,000
long documents and unchanged at 100,000; --help and stages under 0.3 s. The per-stage seconds of each
run are printed from its manifest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

import e2e_corpora

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
SHARED = REPO.parent / "shared" / "eval-data" / "near-dup-images"
TEXT_ROOTS = [Path("/usr/share/doc"), Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"]
CONFIGS = {
    "text-dedup": {"stages": [{"name": "dedup"}], "policy": {"rules": [{"when": "dup_kind not_null"}]}},
    "image-dedup": {
        "stages": [{"name": "dedup", "params": {"near_image": {"from_bytes": True}, "exact": {"image_pixels": False}}}],
        "policy": {"rules": [{"when": "dup_kind not_null"}]},
    },
    "minimal": {"stages": [{"name": "text.stats"}], "policy": {"rules": []}},
}


@dataclass
class Runs:
    """Per run: wall seconds, CPU seconds (user + system, children included), peak memory in bytes.

    ``rss`` is the peak of the process tree's summed proportional set size (pages shared between a pool's
    forked workers counted once in all), ``maxrss`` the main process's own peak RSS (``/usr/bin/time``'s).
    """

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    maxrss: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{statistics.median(self.seconds):7.2f} s wall  {statistics.median(self.cpu):7.2f} s CPU  "
            f"{statistics.median(self.rss) / 2**20:6.0f} MiB peak (tree PSS)  "
            f"{statistics.median(self.maxrss) / 2**20:6.0f} MiB max RSS (main process)"
        )


def _tree_pss(root: psutil.Process) -> int:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except psutil.Error:
            continue
    return total


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, int]:
    """Wall seconds from start to exit, CPU seconds, peak tree PSS and the main process's max RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    watched = psutil.Process(process.pid)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_pss(watched))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{stderr[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, peak, usage.ru_maxrss * 1024


def env() -> dict[str, str]:
    """The environment the CLI runs in: this checkout's sources first, no network for models."""
    out = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    return out


def cli(config: Path, inputs: Path, output: Path) -> list[str]:
    """``datahygiene run`` as a user types it (no datasheet: the peers write none)."""
    run = [PYTHON, "-m", "datahygiene", "run", str(config)]
    return [*run, "--input", str(inputs), "--output", str(output), "--no-datasheet"]


def peer(script: str, inputs: Path, output: Path) -> list[str]:
    """A peer harness from ``bench/peers``."""
    return [PYTHON, str(HERE / "peers" / script), str(inputs), str(output)]


def config_file(work: Path, name: str) -> Path:
    path = work / f"{name}.json"
    path.write_text(json.dumps(CONFIGS[name]))  # JSON is YAML
    return path


def stage_seconds(output: Path) -> str:
    """The per-stage accounting the last run wrote into its manifest (``stages``): seconds and rows/s."""
    manifest = json.loads((output / "manifest.json").read_text())
    parts = [
        f"{entry['stage']} {entry['seconds']:.2f} s"
        + (f" ({entry['rows_per_second']:,.0f} rows/s)" if entry.get("rows_per_second") else "")
        for entry in manifest.get("stages") or []
    ]
    return "  ".join(parts) or "(none recorded)"


def compare(commands: dict[str, list[str]], outputs: dict[str, Path], repeats: int) -> dict[str, Runs]:
    """Run the commands alternately; each output path is removed before its run."""
    runs = {name: Runs() for name in commands}
    for round_ in range(repeats):
        order = list(commands) if round_ % 2 == 0 else list(reversed(commands))
        for name in order:
            if outputs[name].is_dir():
                shutil.rmtree(outputs[name])
            outputs[name].unlink(missing_ok=True)
            seconds, cpu, rss, maxrss = measure(commands[name], env())
            for values, value in ((runs[name].seconds, seconds), (runs[name].cpu, cpu)):
                values.append(value)
            runs[name].rss.append(rss)
            runs[name].maxrss.append(maxrss)
            print(
                f"  round {round_ + 1} {name:12s} {seconds:7.2f} s  {cpu:7.2f} s CPU  {rss / 2**20:6.0f} MiB PSS  "
                f"{maxrss / 2**20:6.0f} MiB max RSS",
                flush=True,
            )
    return runs


def report(runs: dict[str, Runs], ours: str, peer: str) -> None:
    for name, result in runs.items():
        print(f"{name:14s} median {result.summary()}")
    speed = statistics.median(runs[peer].seconds) / statistics.median(runs[ours].seconds)
    cpu = statistics.median(runs[peer].cpu) / statistics.median(runs[ours].cpu)
    memory = statistics.median(runs[ours].rss) / statistics.median(runs[peer].rss)
    print(f"speed: {speed:.2f}x the peer's wall time (target >= 1.5x); {cpu:.2f}x its CPU time")
    print(f"peak RSS: {memory:.2f}x the peer's")


def text(args: argparse.Namespace) -> None:
    corpus = args.work / f"text-{args.docs}.jsonl"
    if not corpus.exists():
        written = e2e_corpora.write_text_corpus(corpus, args.docs, TEXT_ROOTS)
        print(f"built {corpus}: {written:,} documents")
    print(f"corpus {corpus}: {corpus.stat().st_size / 1e6:.0f} MB")
    outputs = {"datahygiene": args.work / "out-text", "rensa-loop": args.work / "out-rensa.jsonl"}
    commands = {
        "datahygiene": cli(config_file(args.work, "text-dedup"), corpus, outputs["datahygiene"]),
        "rensa-loop": peer("text_rensa.py", corpus, outputs["rensa-loop"]),
    }
    runs = compare(commands, outputs, args.repeats)
    report(runs, "datahygiene", "rensa-loop")
    print(f"stages: {stage_seconds(outputs['datahygiene'])}")


def images(args: argparse.Namespace) -> None:
    folder = args.work / f"images-{args.images}"
    if not folder.exists():
        size = e2e_corpora.write_image_corpus(folder, args.images, args.photos)
        print(f"built {folder}: {args.images:,} JPEGs")
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"corpus {folder}: {args.images:,} JPEGs, {size / 1e6:.0f} MB")
    outputs = {"datahygiene": args.work / "out-images", "imagehash-2p": args.work / "out-imagehash.txt"}
    commands = {
        "datahygiene": cli(config_file(args.work, "image-dedup"), folder, outputs["datahygiene"]),
        "imagehash-2p": [
            PYTHON,
            str(HERE / "peers" / "images_imagehash.py"),
            str(folder),
            str(outputs["imagehash-2p"]),
        ],
    }
    runs = compare(commands, outputs, args.repeats)
    report(runs, "datahygiene", "imagehash-2p")
    print(f"stages: {stage_seconds(outputs['datahygiene'])}")


def memory(args: argparse.Namespace) -> None:
    config = config_file(args.work, "minimal")
    peaks: dict[int, float] = {}
    for docs in args.sizes:
        corpus = args.work / f"text-{docs}.jsonl"
        if not corpus.exists():
            e2e_corpora.write_text_corpus(corpus, docs, TEXT_ROOTS)
        output = args.work / f"out-minimal-{docs}"
        runs = compare({f"minimal-{docs}": cli(config, corpus, output)}, {f"minimal-{docs}": output}, args.repeats)
        peaks[docs] = max(runs[f"minimal-{docs}"].rss) / 2**20
        size = corpus.stat().st_size / 1e6
        print(f"minimal config, {docs:,} documents ({size:.0f} MB): {runs[f'minimal-{docs}'].summary()}")
    first, last = args.sizes[0], args.sizes[-1]
    print(
        f"peak RSS {peaks[first]:.0f} MiB at {first:,} (target <= 600), {peaks[last]:.0f} MiB at {last:,}: "
        f"ratio {peaks[last] / peaks[first]:.2f}"
    )


def start(args: argparse.Namespace) -> None:
    for label, extra in (("--help", ["--help"]), ("stages", ["stages"])):
        runs = [measure([PYTHON, "-m", "datahygiene", *extra], env()) for _ in range(max(args.repeats, 5))]
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        rss = statistics.median(r[3] for r in runs) / 2**20
        print(f"datahygiene {label}: median {wall:.3f} s wall, {cpu:.3f} s CPU, {rss:.0f} MiB (target < 0.3 s)")
    bare = [measure([PYTHON, "-c", "import typer"], env()) for _ in range(5)]
    wall, cpu = statistics.median(r[0] for r in bare), statistics.median(r[1] for r in bare)
    print(f"python -c 'import typer': median {wall:.3f} s wall, {cpu:.3f} s CPU (the floor of a typer CLI)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["text", "images", "memory", "start"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/datahygiene-e2e"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--photos", type=Path, default=SHARED)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    {"text": text, "images": images, "memory": memory, "start": start}[args.what](args)


if __name__ == "__main__":
    main()
