"""The run manifest: counts, reasons, files with hashes, models; and its checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene import __version__
from datahygiene import columns as C
from datahygiene.config import RunConfig
from datahygiene.io.sink import ROUTES, RunDir, sha256_file

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
    started: float,
    finished: float,
) -> dict[str, Any]:
    """Aggregate the commit records of a run into ``manifest.json``'s content."""
    totals = dict.fromkeys(("rows_in", "rows_kept", "rows_rejected", "rows_quarantined"), 0)
    reasons: dict[str, int] = {}
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
        for reason, count in record["reject_reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    return {
        "manifest_version": MANIFEST_VERSION,
        "datahygiene_version": __version__,
        "config_sha256": config.sha256(),
        **totals,
        "reject_reasons": dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
        "shards_total": len(shards),
        "shards_committed": sum(1 for e in entries if e.get("status") == "committed"),
        "shards_failed": sum(1 for e in entries if e.get("status") == "failed"),
        "shards": entries,
        "models": models,
        "policy": [rule.model_dump() for rule in config.policy.rules],
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": round(finished - started, 3),
    }


def check_invariants(run_dir: RunDir, manifest: dict[str, Any]) -> list[str]:
    """Every committed shard: read = kept + rejected + quarantined = rows on disk, hashes match."""
    errors: list[str] = []
    for entry in manifest["shards"]:
        if entry.get("status") != "committed":
            continue
        name = entry["shard"]
        if entry["rows_read"] != entry["rows_kept"] + entry["rows_rejected"] + entry["rows_quarantined"]:
            errors.append(f"{name}: rows read != kept + rejected + quarantined")
        for route in ROUTES:
            on_disk = 0
            for output in entry["files"][route]:
                path = run_dir.root / output["path"]
                if not path.exists():
                    errors.append(f"{name}: missing output file {output['path']}")
                    continue
                rows = pq.ParquetFile(path).metadata.num_rows
                on_disk += rows
                if rows != output["rows"]:
                    errors.append(f"{name}: {output['path']} has {rows} rows, manifest says {output['rows']}")
                if sha256_file(path) != output["sha256"]:
                    errors.append(f"{name}: {output['path']} sha256 differs from the manifest")
            if on_disk != entry[f"rows_{route}"]:
                errors.append(f"{name}: {route} files hold {on_disk} rows, counted {entry[f'rows_{route}']}")
    return errors


PROVENANCE_KEY = b"datahygiene"


def file_provenance(path: Path) -> dict[str, Any]:
    """The provenance a run wrote into one output file's Parquet key-value metadata.

    Holds ``version``, ``config_sha256``, ``shard`` (``index``, ``id``, ``kind``,
    ``fingerprint`` of the input shard the rows came from), ``models`` and
    ``policy``; empty when the file carries none. With the rows' ``source_row``
    this traces any output row back to its input row.
    """
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _provenance_errors(
    relative: str, provenance: dict[str, Any], manifest: dict[str, Any], entry: dict[str, Any]
) -> list[str]:
    """Where a file's own provenance disagrees with the manifest entry of its shard."""
    if not provenance:
        return [f"{relative}: no datahygiene provenance in the Parquet metadata"]
    shard = provenance.get("shard") or {}
    expected = {
        "config hash": (provenance.get("config_sha256"), manifest["config_sha256"]),
        "package version": (provenance.get("version"), manifest["datahygiene_version"]),
        "models": (provenance.get("models"), manifest["models"]),
        "policy": (provenance.get("policy"), manifest["policy"]),
        "input shard id": (shard.get("id"), entry["shard"]),
        "input shard fingerprint": (shard.get("fingerprint"), entry["fingerprint"]),
    }
    return [
        f"{relative}: {what} in the file differs from the manifest"
        for what, (found, wanted) in expected.items()
        if found != wanted
    ]


def verify_run(run_dir: RunDir) -> list[str]:
    """Re-hash a finished run's files against its manifest; every problem as one line.

    Beyond :func:`check_invariants` (row counts, missing files, sha256) this
    reads each file's provenance metadata (config hash, package version,
    models, policy, input shard id and fingerprint) and compares it with the
    manifest, and flags Parquet files that the manifest does not list.
    """
    if not run_dir.manifest_path.exists():
        return [f"{run_dir.root}: no manifest.json"]
    manifest = json.loads(run_dir.manifest_path.read_text())
    errors = check_invariants(run_dir, manifest)
    listed: set[str] = set()
    for entry in manifest["shards"]:
        if entry.get("status") != "committed":
            continue
        for route in ROUTES:
            for output in entry["files"][route]:
                listed.add(output["path"])
                path = run_dir.root / output["path"]
                if path.exists():
                    errors.extend(_provenance_errors(output["path"], file_provenance(path), manifest, entry))
    for route in ROUTES:
        for path in sorted((run_dir.root / route).glob("*.parquet")):
            relative = f"{route}/{path.name}"
            if relative not in listed:
                errors.append(f"{relative}: not listed in the manifest")
    return errors


def hf_features_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """Schema metadata that makes ``datasets`` load the ``image`` column as images.

    Only the canonical columns are declared; ``datasets`` infers the rest from
    the Arrow types.
    """
    features: dict[str, Any] = {
        C.ID: {"dtype": "string", "_type": "Value"},
        C.TEXT: {"dtype": "string", "_type": "Value"},
        C.IMAGE: {"_type": "Image"},
    }
    del schema  # the declared subset does not depend on the stage columns
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
