"""Checking a run's output files against its manifest: the invariant after every run, and ``datahygiene verify``."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from datahygiene.io.sink import ROUTES, RunDir, file_provenance


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
                if not run_dir.exists(output["path"]):
                    errors.append(f"{name}: missing output file {output['path']}")
                    continue
                with run_dir.open_read(output["path"]) as handle:
                    rows = pq.ParquetFile(handle).metadata.num_rows
                on_disk += rows
                if rows != output["rows"]:
                    errors.append(f"{name}: {output['path']} has {rows} rows, manifest says {output['rows']}")
                if run_dir.sha256(output["path"]) != output["sha256"]:
                    errors.append(f"{name}: {output['path']} sha256 differs from the manifest")
            if on_disk != entry[f"rows_{route}"]:
                errors.append(f"{name}: {route} files hold {on_disk} rows, counted {entry[f'rows_{route}']}")
    return errors


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
    """Re-hash a finished run's files against its manifest; every problem as one line (no run: NotARunError).

    Beyond :func:`check_invariants` (row counts, missing files, sha256) this
    reads each file's provenance metadata (config hash, package version,
    models, policy, input shard id and fingerprint) and compares it with the
    manifest, and flags Parquet files that the manifest does not list.
    """
    manifest = run_dir.read_manifest()
    errors = check_invariants(run_dir, manifest)
    listed: set[str] = set()
    for entry in manifest["shards"]:
        if entry.get("status") != "committed":
            continue
        for route in ROUTES:
            for output in entry["files"][route]:
                listed.add(output["path"])
                if run_dir.exists(output["path"]):
                    with run_dir.open_read(output["path"]) as handle:
                        provenance = file_provenance(handle)
                    errors.extend(_provenance_errors(output["path"], provenance, manifest, entry))
    for route in ROUTES:
        for relative in run_dir.route_files(route):
            if relative not in listed:
                errors.append(f"{relative}: not listed in the manifest")
    return errors
