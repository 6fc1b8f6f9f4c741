"""The run manifest: counts, reasons, files with hashes, models (checked by :mod:`datahygiene.reports.verify`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from datahygiene import __version__
from datahygiene.core.config import RunConfig
from datahygiene.core.timing import StageTimes

if TYPE_CHECKING:
    from datahygiene.io.sources import ShardSource

MANIFEST_VERSION = 1


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def build_manifest(
    *,
    config: RunConfig,
    shards: list[ShardSource],
    committed: dict[int, dict[str, Any]],
    failures: dict[int, dict[str, Any]],
    models: list[dict[str, Any]],
    column_roles: dict[str, str] | None = None,
    started: float,
    finished: float,
) -> dict[str, Any]:
    """Aggregate the commit records of a run into ``manifest.json``'s content."""
    totals = dict.fromkeys(("rows_in", "rows_kept", "rows_rejected", "rows_quarantined", "rows_rejected_by_runner"), 0)
    reasons: dict[str, int] = {}
    times = StageTimes()
    entries: list[dict[str, Any]] = []
    for shard in shards:
        record = committed.get(shard.index) or failures.get(shard.index)
        if record is None:  # not reached in this run (cannot happen after a full pass)
            entries.append({"index": shard.index, "shard": shard.shard_id, "status": "pending"})
            continue
        if "error" in record:
            entries.append({**{k: v for k, v in record.items() if k != "traceback"}, "status": "failed"})
            continue
        entries.append({**record, "status": "committed"})
        totals["rows_in"] += record["rows_read"]
        totals["rows_kept"] += record["rows_kept"]
        totals["rows_rejected"] += record["rows_rejected"]
        totals["rows_quarantined"] += record["rows_quarantined"]
        totals["rows_rejected_by_runner"] += record.get("rows_rejected_by_runner", 0)  # absent in older commits
        for reason, count in record["reject_reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
        times.merge(record.get("stages", []))
    return {
        "manifest_version": MANIFEST_VERSION,
        "datahygiene_version": __version__,
        "config_sha256": config.sha256(),
        **totals,
        "reject_reasons": dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
        #: seconds, rows, bytes and rows/s per engine step and stage, summed over the committed shards
        "stages": times.records(),
        "shards_total": len(shards),
        "shards_committed": sum(1 for e in entries if e.get("status") == "committed"),
        "shards_failed": sum(1 for e in entries if e.get("status") == "failed"),
        "shards": entries,
        "models": models,
        "column_roles": dict(sorted((column_roles or {}).items())),
        "policy": [rule.model_dump() for rule in config.policy.rules],
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": round(finished - started, 3),
    }
