"""Planning a run: discover the shards, check the output directory, find what an earlier attempt committed.

Nothing here loads a model or writes a file, so every usage error (bad inputs, an output directory that holds
another run) is found before any work starts.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datahygiene.core.config import RunConfig
from datahygiene.core.stage import StageContext
from datahygiene.io.probe import check_column_map
from datahygiene.io.sink import RunDir, atomic_write_json
from datahygiene.io.sources import ShardSource, discover


class OutputExistsError(RuntimeError):
    """The output directory holds data and ``--resume`` was not given."""


class OutputBusyError(OutputExistsError):
    """Another run is committing into the same output directory."""


class ResumeMismatchError(RuntimeError):
    """``--resume`` on a directory written with another config or other inputs."""


class OutputPathError(RuntimeError):
    """The output path cannot hold a run: a file, not writable, or where the inputs would read it back."""


def check_output_path(root: Path) -> None:
    """The output directory exists as a writable directory, or its nearest existing parent does."""
    for path in (root, *root.parents):
        if not path.exists():
            continue
        if not path.is_dir():
            where = "" if path == root else f" ({path} is a file)"
            raise OutputPathError(f"output {root} is not a directory{where}")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"cannot write into {path} (for the output {root}): permission denied")
        return


def _scanned_folder(argument: str) -> tuple[Path, float] | None:
    """The folder an ``--input`` scans and how many levels below it it reads (a folder: all of them)."""
    if argument.startswith("hf:"):
        return None
    if not glob.has_magic(argument):
        path = Path(argument)
        return (path, float("inf")) if path.is_dir() else None
    parts = Path(argument).parts
    fixed = next(index for index, part in enumerate(parts) if glob.has_magic(part))
    depth = float("inf") if "**" in parts[fixed:] else len(parts) - fixed
    return Path(*parts[:fixed]) if fixed else Path(), depth


def check_output_outside_inputs(root: Path, inputs: list[str], shards: list[ShardSource]) -> None:
    """Refuse an output the inputs would read back on a rerun (inside an input folder or a recursive glob)."""
    output = root.resolve()
    for argument in inputs:
        scanned = _scanned_folder(argument)
        if scanned is None:
            continue
        folder, depth = scanned
        base = folder.resolve()
        if output.is_relative_to(base) and len(output.relative_to(base).parts) < depth:
            raise OutputPathError(
                f"output {root} is inside the input {argument}: a rerun would read the run's own files as input"
            )
    for shard in shards:
        for path in shard.files:
            if path.resolve().is_relative_to(output):
                raise OutputPathError(f"input {path} lies inside the output directory {root}")


def run_identity(config: RunConfig, shards: list[ShardSource]) -> dict[str, Any]:
    """What a resumed run must match: the config hash and every input shard's fingerprint."""
    return {
        "config_sha256": config.sha256(),
        "inputs": [{"shard": s.shard_id, "kind": s.kind, "fingerprint": s.fingerprint()} for s in shards],
    }


def check_output(run_dir: RunDir, identity: dict[str, Any], *, resume: bool) -> bool:
    """Whether ``run_dir`` continues an earlier run; raises when it may not be used."""
    if run_dir.identity_path.exists():
        if not resume:
            raise OutputExistsError(f"{run_dir.root} already holds a run; pass --resume to continue it")
        previous = json.loads(run_dir.identity_path.read_text())
        if previous != identity:
            what = "config" if previous.get("config_sha256") != identity["config_sha256"] else "inputs"
            raise ResumeMismatchError(f"cannot resume {run_dir.root}: its {what} differ from this run's")
        return True
    if not run_dir.is_empty():
        raise OutputExistsError(f"output directory {run_dir.root} is not empty")
    return False


def start_output(run_dir: RunDir, identity: dict[str, Any], config: RunConfig) -> None:
    """Create the output directory with the resolved config and the run's identity (first attempt only)."""
    run_dir.root.mkdir(parents=True, exist_ok=True)
    (run_dir.root / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True))
    atomic_write_json(run_dir.identity_path, identity)


@dataclass
class RunPlan:
    """A run's shards and which of them an earlier attempt already committed (checked, nothing written yet)."""

    config: RunConfig
    context: StageContext
    run_dir: RunDir
    shards: list[ShardSource]
    identity: dict[str, Any]
    resuming: bool
    committed: dict[int, dict[str, Any]]
    started: float

    @property
    def pending(self) -> list[ShardSource]:
        """Shards still to commit, in input order."""
        return [shard for shard in self.shards if shard.index not in self.committed]


def plan_run(
    config: RunConfig, inputs: list[str], output: Path, *, resume: bool = False, dedup_index: Path | None = None
) -> RunPlan:
    """Discover the shards and check the output directory; loads no model and writes nothing."""
    started = time.time()
    shards = discover(inputs, images_per_shard=config.limits.images_per_shard, fingerprint=config.fingerprint)
    context = StageContext(
        models_dir=config.models.dir,
        offline=config.models.offline,
        device=config.models.device,
        dedup_index=dedup_index,
    )
    check_output_path(output)
    check_output_outside_inputs(output, inputs, shards)
    run_dir = RunDir(output)
    identity = run_identity(config, shards)
    resuming = check_output(run_dir, identity, resume=resume)
    check_column_map(shards, config.columns)
    committed = run_dir.committed() if resuming else {}
    return RunPlan(config, context, run_dir, shards, identity, resuming, committed, started)
