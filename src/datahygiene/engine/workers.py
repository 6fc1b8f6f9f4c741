"""Per-shard API for orchestrators (the Prefect flows): plan, score anywhere, commit in order, finish.

1. :func:`plan_jobs` discovers the shards and checks the output directory
   (the same checks as ``datahygiene run``); committed shards are left out.
2. :func:`score_shard` runs the order-free stages over one shard on any
   worker, in any order, and spools the scored batches under the output
   directory. Stages are built once per worker process (cached by config
   hash). A spool left by a crashed run is reused: its name carries the
   shard's fingerprint and the config hash.
3. :func:`commit_scored` runs the ordered stages (dedup) and the policy and
   commits the shard; call it in input order, in one process.
4. :func:`finish` writes the manifest and the datasheet.

The CLI commits through the same :class:`~datahygiene.engine.run.Committer`, so
both produce the same rows, reasons and files.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from datahygiene import __version__
from datahygiene.core import registry
from datahygiene.core.config import ConfigError, RunConfig
from datahygiene.core.stage import ChainSummary, StageContext
from datahygiene.engine.pipeline import Pipeline, StageChain, score_batches, split_stages
from datahygiene.engine.plan import RunPlan, plan_run
from datahygiene.engine.run import Committer, RunResult
from datahygiene.engine.run import completed_result as completed_result  # the flows' step 0
from datahygiene.io.sources import ShardSource
from datahygiene.io.spool import SpooledBatches, SpoolInfo, spool_info, write_spool
from datahygiene.io.storage import Store, is_url

log = logging.getLogger(__name__)

SPOOL_DIR = Path("_tmp") / "scored"


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to score one shard (picklable)."""

    config: RunConfig
    context: StageContext
    #: The output folder, or its URL (spools then go to the object store).
    output: Path | str
    shard: ShardSource
    key: str

    @property
    def spool_name(self) -> str:
        """The spool's name relative to the output."""
        return f"{SPOOL_DIR.as_posix()}/{self.shard.index:05d}-{self.key[:24]}.arrow"

    @property
    def spool_path(self) -> Path:
        """The spool of a local output."""
        return Path(self.output) / self.spool_name


@dataclass(frozen=True)
class ScoredShard:
    """A worker's report on one scored shard."""

    index: int
    shard_id: str
    #: The spool file, or its URL in the output's object store.
    spool: Path | str
    rows: int
    batches: int
    scoring: ChainSummary
    worker: str
    pipelines_built: int
    seconds: float
    reused: bool


def shard_key(config: RunConfig, shard: ShardSource) -> str:
    """Identity of a shard's scores: library version, config hash and the input shard's fingerprint."""
    return hashlib.sha256(f"{__version__}|{config.sha256()}|{shard.fingerprint()}".encode()).hexdigest()


def plan_jobs(
    config: RunConfig, inputs: list[str], output: Path | str, *, resume: bool, dedup_index: Path | str | None = None
) -> tuple[RunPlan, list[ShardJob]]:
    """Check the output directory and list the shards still to commit (loads no model, writes nothing)."""
    for stage in config.stages:
        if not getattr(registry.get(stage.name), "runs_in_flows", True):
            raise ConfigError(f"stage {stage.name!r} cannot run in a flow (it says so); run it with `datahygiene run`")
    plan = plan_run(config, inputs, output, resume=resume, dedup_index=dedup_index)
    jobs = [ShardJob(config, plan.context, output, shard, shard_key(config, shard)) for shard in plan.pending]
    return plan, jobs


_chains: dict[str, StageChain] = {}
#: Each cached chain's summary as built: what every shard's files record, as the CLI's (built once) do, even
#: where a stage's description changes with the rows it saw (``rights.copyright``'s watermark check).
_summaries: dict[str, ChainSummary] = {}
_chains_lock = threading.Lock()
_builds = 0


def scoring_chain(config: RunConfig, context: StageContext) -> StageChain:
    """The order-free stages of ``config``, built once per process and reused by every later shard."""
    return _cached(config, context)[0]


def scoring_summary(config: RunConfig, context: StageContext) -> ChainSummary:
    """The summary of :func:`scoring_chain` as it was built (the same for every shard the process scores)."""
    return _cached(config, context)[1]


def _cached(config: RunConfig, context: StageContext) -> tuple[StageChain, ChainSummary]:
    global _builds
    key = hashlib.sha256(f"{config.sha256()}|{context!r}".encode()).hexdigest()
    with _chains_lock:
        chain = _chains.get(key)
        if chain is None:
            chain = StageChain.build(split_stages(config)[0], context)
            _chains[key] = chain
            _summaries[key] = chain.summary()
            _builds += 1
            log.info("built the scoring stages in %s", worker_name())
        return chain, _summaries[key]


def clear_scoring_cache() -> None:
    """Drop the cached scoring stages of this process (benchmarks; a long-lived worker after a config change)."""
    with _chains_lock:
        _chains.clear()
        _summaries.clear()


def pipelines_built() -> int:
    """How many times this process built scoring stages (once per config, if the cache works)."""
    return _builds


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def score_shard(job: ShardJob) -> ScoredShard:
    """Run the order-free stages over one shard and spool the result; reuses a spool left by a crashed run."""
    started = time.perf_counter()
    registry.load_plugins(job.config.plugins)  # a fresh worker process has not parsed the config
    if is_url(str(job.output)):
        path: Path | str = f"{str(job.output).rstrip('/')}/{job.spool_name}"
        reused, info = _score_to_store(job, Store.open(str(job.output)))
    else:
        path = job.spool_path
        reused = path.exists()
        if reused:
            info = spool_info(path)
        else:
            chain = scoring_chain(job.config, job.context)
            info = write_spool(
                path, score_batches(job.shard, job.config, chain), scoring_summary(job.config, job.context)
            )
    return ScoredShard(
        index=job.shard.index,
        shard_id=job.shard.shard_id,
        spool=path,
        rows=info.rows,
        batches=info.batches,
        scoring=info.scoring,
        worker=worker_name(),
        pipelines_built=pipelines_built(),
        seconds=round(time.perf_counter() - started, 3),
        reused=reused,
    )


def _score_to_store(job: ShardJob, store: Store) -> tuple[bool, SpoolInfo]:
    """Score into a local temporary spool and PUT it (one atomic object); reuse one already in the store."""
    with tempfile.TemporaryDirectory(prefix="datahygiene-spool-") as folder:
        local = Path(folder) / "spool.arrow"
        if store.exists(job.spool_name):
            store.get_file(job.spool_name, local)
            return True, spool_info(local)
        chain = scoring_chain(job.config, job.context)
        info = write_spool(local, score_batches(job.shard, job.config, chain), scoring_summary(job.config, job.context))
        store.put_file(local, job.spool_name)
        return False, info


def commit_scored(committer: Committer, job: ShardJob, scored: ScoredShard) -> dict[str, object]:
    """Commit a scored shard (the next in input order): ordered stages, policy, two-phase write."""
    if not committer.attached:
        committer.attach(Pipeline(job.config, job.context, scoring_summary=scored.scoring))
    decode = bool(committer.runner.pipeline.ordered.stages)
    run_dir = committer.plan.run_dir
    if run_dir.store is not None:
        local = run_dir.root / job.spool_name
        run_dir.store.get_file(job.spool_name, local)
        record = committer.commit(job.shard, SpooledBatches(local, job.config, decode_images=decode))
        local.unlink(missing_ok=True)
        if "error" not in record:
            run_dir.store.remove([job.spool_name])
        return record
    record = committer.commit(job.shard, SpooledBatches(Path(scored.spool), job.config, decode_images=decode))
    if "error" not in record:
        Path(scored.spool).unlink(missing_ok=True)
    return record


def remove_spool(plan: RunPlan, job: ShardJob) -> None:
    """Drop a committed shard's spool."""
    if plan.run_dir.store is not None:
        plan.run_dir.store.remove([job.spool_name])
    else:
        job.spool_path.unlink(missing_ok=True)


def finish(committer: Committer, *, write_documents: bool = True) -> RunResult:
    """The global step: publish the dedup index, write the manifest and the datasheet."""
    plan = committer.plan
    if not committer.attached:  # nothing was scored in this attempt: every shard was committed before
        committer.attach(Pipeline(plan.config, plan.context))
    if not committer.failures:
        plan.run_dir.remove_prefix(SPOOL_DIR.as_posix())
    return committer.finish(write_documents=write_documents)


def discard_spools(plan: RunPlan) -> None:
    """Remove what scoring wrote when the run stops before its output was started (a config error)."""
    plan.run_dir.remove_prefix(SPOOL_DIR.as_posix())
    if plan.resuming or plan.run_dir.remote:
        return
    root = plan.run_dir.root
    for directory in (root / SPOOL_DIR.parent, root):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


#: ``errno`` values of I/O failures that a retry can cure (flaky network filesystems, busy devices).
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EAGAIN,
        errno.EINTR,
        errno.EBUSY,
        errno.ESTALE,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether retrying could cure ``error``: timeouts, broken connections, flaky I/O (or one of them as a cause).

    Bad input never retries: rows that fail to parse or decode are already
    rejected rows, and a missing file, a permission error or an unreadable
    Parquet footer (pyarrow's ``OSError`` without an ``errno``) fails the
    same way every time.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError | ConnectionError):
            return True
        if isinstance(current, OSError) and current.errno in TRANSIENT_ERRNOS:
            return True
        current = current.__cause__
    return False
