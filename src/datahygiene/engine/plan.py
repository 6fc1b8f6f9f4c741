"""Planning a run: discover the shards, check the output directory, find what an earlier attempt committed.

Nothing here loads a model or writes a file, so every usage error (bad inputs, an output directory that holds
another run) is found before any work starts.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from datahygiene.core.config import RunConfig
from datahygiene.core.stage import StageContext
from datahygiene.io.probe import check_column_map
from datahygiene.io.sink import RunDir
from datahygiene.io.sources import ShardSource, discover
from datahygiene.io.storage import is_url


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


def _location(value: str | Path) -> tuple[str, tuple[str, ...]]:
    """A place as (scheme, path components): a local path resolved (scheme ``""``), a URL as written."""
    if is_url(value):
        scheme, _, rest = str(value).partition("://")
        return scheme.lower(), PurePosixPath(posixpath.normpath("/" + rest)).parts[1:]
    return "", Path(value).resolve().parts


def _is_under(inner: tuple[str, tuple[str, ...]], outer: tuple[str, tuple[str, ...]]) -> bool:
    return inner[0] == outer[0] and inner[1][: len(outer[1])] == outer[1]


def _scanned(argument: str, shards: list[ShardSource]) -> tuple[tuple[str, tuple[str, ...]], tuple[str, ...]] | None:
    """The folder an ``--input`` scans and the glob below it (a folder: ``**``); None when it names a file."""
    if argument.startswith("hf:"):
        return None
    url = is_url(argument)
    scheme, _, rest = argument.partition("://") if url else ("", "", argument)
    if not glob.has_magic(rest):
        if url:  # a folder URL: some shard lies below it (no call to the store)
            folder = _location(argument)
            files = [f"{shard.url}/{shard.members[0]}" if shard.members else shard.url for shard in shards]
            is_folder = any(_is_under(_location(file), folder) and _location(file) != folder for file in files if file)
        else:
            is_folder = Path(argument).is_dir()
        return (_location(argument), ("**",)) if is_folder else None
    parts = PurePosixPath(rest).parts if url else Path(rest).parts
    fixed = next(index for index, part in enumerate(parts) if glob.has_magic(part))
    base = f"{scheme}://{'/'.join(parts[:fixed])}" if url else Path(*parts[:fixed]) if fixed else Path()
    return _location(base), parts[fixed:]


def _reaches(pattern: tuple[str, ...], below: tuple[str, ...]) -> bool:
    """Whether a glob (components ``pattern``) matches the folder ``below`` names, a folder around it (read
    whole) or something inside it: i.e. whether it would read the files under ``below``."""
    if not below or pattern[0] == "**":
        return True  # below: the rest of the pattern matches inside the output, so it may match the run's files
    rest = pattern[1:]
    return fnmatch.fnmatchcase(below[0], pattern[0]) and (not rest or _reaches(rest, below[1:]))


def check_output_outside_inputs(output: Path | str, inputs: list[str], shards: list[ShardSource]) -> None:
    """Refuse an output the inputs would read back on a rerun (inside an input folder or what a glob matches).

    Works for local paths and URLs alike (an ``s3://`` output inside an ``s3://`` input folder is refused too).
    """
    place = _location(output)
    for argument in inputs:
        scanned = _scanned(argument, shards)
        if scanned is None:
            continue
        folder, pattern = scanned
        if _is_under(place, folder) and _reaches(pattern, place[1][len(folder[1]) :]):
            raise OutputPathError(
                f"output {output} is inside the input {argument}: a rerun would read the run's own files as input"
            )
    for shard in shards:
        for path in (shard.url,) if shard.url is not None else shard.files:
            if _is_under(_location(path), place):
                raise OutputPathError(f"input {path} lies inside the output directory {output}")


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
    shards = discover(inputs, images_per_shard=config.limits.images_per_shard, fingerprint=config.fingerprint)
    context = StageContext(
        models_dir=config.models.dir,
        offline=config.models.offline,
        device=config.models.device,
        dedup_index=dedup_index,
    )
    run_dir = RunDir.at(output)
    if not run_dir.remote:  # an object store has no folders to check for, and its own permission errors
        check_output_path(run_dir.root)
    check_output_outside_inputs(run_dir.location, inputs, shards)
    identity = run_identity(config, shards)
    resuming = check_output(run_dir, identity, resume=resume)
    check_column_map(shards, config.columns)
    committed = run_dir.committed() if resuming else {}
    return RunPlan(config, context, run_dir, shards, identity, resuming, committed, started)
