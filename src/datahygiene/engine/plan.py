"""Planning a run: discover the shards, check the output directory, find what an earlier attempt committed.

Nothing here loads a model or writes a file, so every usage error (bad inputs, an output directory that holds
another run) is found before any work starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datahygiene.core.config import RunConfig
from datahygiene.core.stage import StageContext
from datahygiene.io.sink import RunDir
from datahygiene.io.sources import ShardSource, discover


class OutputExistsError(RuntimeError):
    """The output directory holds data and ``--resume`` was not given."""


class OutputBusyError(OutputExistsError):
    """Another run is committing into the same output directory."""


class ResumeMismatchError(RuntimeError):
    """``--resume`` on a directory written with another config or other inputs."""


def run_identity(config: RunConfig, shards: list[ShardSource]) -> dict[str, Any]:
    """What a resumed run must match: the config hash and every input shard's fingerprint."""
    return {
        "config_sha256": config.sha256(),
        "inputs": [{"shard": s.shard_id, "kind": s.kind, "fingerprint": s.fingerprint()} for s in shards],
    }


def check_output(run_dir: RunDir, identity: dict[str, Any], *, resume: bool) -> bool:
    """Whether ``run_dir`` continues an earlier run; raises when it may not be used."""
    if run_dir.exists("_run.json"):
        if not resume:
            raise OutputExistsError(f"{run_dir.name} already holds a run; pass --resume to continue it")
        previous = run_dir.read_json("_run.json")
        if previous != identity:
            what = "config" if previous.get("config_sha256") != identity["config_sha256"] else "inputs"
            raise ResumeMismatchError(f"cannot resume {run_dir.name}: its {what} differ from this run's")
        return True
    if not run_dir.is_empty():
        raise OutputExistsError(f"output directory {run_dir.name} is not empty")
    return False


def start_output(run_dir: RunDir, identity: dict[str, Any], config: RunConfig) -> None:
    """Create the output directory with the resolved config and the run's identity (first attempt only)."""
    run_dir.start(identity, config.model_dump(mode="json"))


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
    config: RunConfig,
    inputs: list[str],
    output: Path | str,
    *,
    resume: bool = False,
    dedup_index: Path | str | None = None,
) -> RunPlan:
    """Discover the shards and check the output directory; loads no model and writes nothing."""
    started = time.time()
    shards = discover(inputs, images_per_shard=config.limits.images_per_shard)
    context = StageContext(
        models_dir=config.models.dir,
        offline=config.models.offline,
        device=config.models.device,
        dedup_index=dedup_index,
    )
    run_dir = RunDir.at(output)
    identity = run_identity(config, shards)
    resuming = check_output(run_dir, identity, resume=resume)
    committed = run_dir.committed() if resuming else {}
    return RunPlan(config, context, run_dir, shards, identity, resuming, committed, started)
