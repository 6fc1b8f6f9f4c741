"""Checking a run's output files against its manifest: the invariant after every run, and ``datahygiene verify``.

Nothing in the manifest is trusted: a file path must lead into its route's folder of the run (no ``../``, no
symlink out), every count is compared with the files or with the sum of the shards, and a malformed entry is a
reported problem, not a traceback.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core import columns as C
from datahygiene.io.sink import ROUTES, RunDir, file_provenance

#: Top-level manifest totals and the per-shard count each one sums.
_TOTALS = {
    "rows_in": "rows_read",
    "rows_kept": "rows_kept",
    "rows_rejected": "rows_rejected",
    "rows_quarantined": "rows_quarantined",
    "rows_rejected_by_runner": "rows_rejected_by_runner",
}


def confined(run_dir: RunDir, route: str, relative: object) -> str | None:
    """``relative`` when it names a file in the run's ``route`` folder (as written: ``route/NAME``, no ``..``;
    in a local run also once symlinks are followed), else None."""
    if not isinstance(relative, str):
        return None
    parts = PurePosixPath(relative).parts
    if len(parts) < 2 or parts[0] != route or ".." in parts:
        return None
    if run_dir.remote:
        return relative
    inside = (run_dir.root / relative).resolve().is_relative_to((run_dir.root / route).resolve())
    return relative if inside else None


def _entries(manifest: dict[str, Any], errors: list[str]) -> list[dict[str, Any]]:
    """The committed shard entries; malformed ones become errors."""
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        errors.append("manifest: 'shards' is not a list")
        return []
    committed = []
    for number, entry in enumerate(shards):
        if not isinstance(entry, dict):
            errors.append(f"manifest shard entry {number}: not an object")
        elif entry.get("status") == "committed":
            committed.append(entry)
    return committed


def _check_shard(run_dir: RunDir, entry: dict[str, Any]) -> list[str]:
    """read = kept + rejected + quarantined = rows on disk; every file inside the run, its rows and hash as listed."""
    errors: list[str] = []
    name = entry["shard"]
    if entry["rows_read"] != entry["rows_kept"] + entry["rows_rejected"] + entry["rows_quarantined"]:
        errors.append(f"{name}: rows read != kept + rejected + quarantined")
    for route in ROUTES:
        on_disk = 0
        for output in entry["files"][route]:
            relative = confined(run_dir, route, output["path"])
            if relative is None:
                errors.append(f"{name}: {output['path']}: outside the run's {route}/ folder (not opened)")
                continue
            if not run_dir.exists(relative):
                errors.append(f"{name}: missing output file {relative}")
                continue
            try:
                with run_dir.open_read(relative) as handle:
                    rows = pq.ParquetFile(handle).metadata.num_rows
            except (OSError, pa.ArrowException) as error:
                errors.append(f"{name}: {relative} is not a readable Parquet file: {error}")
                continue
            on_disk += rows
            if rows != output["rows"]:
                errors.append(f"{name}: {relative} has {rows} rows, manifest says {output['rows']}")
            if run_dir.sha256(relative) != output["sha256"]:
                errors.append(f"{name}: {output['path']} sha256 differs from the manifest")
        if on_disk != entry[f"rows_{route}"]:
            errors.append(f"{name}: {route} files hold {on_disk} rows, counted {entry[f'rows_{route}']}")
    return errors


def _check_totals(manifest: dict[str, Any], committed: list[dict[str, Any]]) -> list[str]:
    """Every top-level count equals the sum over the committed shards (and the shard counts their entries)."""
    errors: list[str] = []
    for total, per_shard in _TOTALS.items():
        if total not in manifest and total == "rows_rejected_by_runner":
            continue  # manifests of earlier versions do not have it
        summed = sum(entry.get(per_shard, 0) for entry in committed)
        if manifest.get(total) != summed:
            errors.append(f"manifest: {total} is {manifest.get(total)!r}, its shards sum to {summed}")
    reasons: Counter[str] = Counter()
    for entry in committed:
        reasons.update(entry["reject_reasons"])
    if manifest.get("reject_reasons") != dict(reasons):
        errors.append("manifest: reject_reasons differ from the sum of the shards' reasons")
    shards = manifest["shards"]
    statuses = Counter(entry.get("status") for entry in shards if isinstance(entry, dict))
    for key, found in (
        ("shards_total", len(shards)),
        ("shards_committed", statuses["committed"]),
        ("shards_failed", statuses["failed"]),
    ):
        if manifest.get(key) != found:
            errors.append(f"manifest: {key} is {manifest.get(key)!r}, the shard list has {found}")
    return errors


def check_invariants(run_dir: RunDir, manifest: dict[str, Any]) -> list[str]:
    """Every committed shard: read = kept + rejected + quarantined = rows on disk, hashes match; totals add up."""
    errors: list[str] = []
    committed = _entries(manifest, errors)
    for entry in committed:
        try:
            errors.extend(_check_shard(run_dir, entry))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            errors.append(
                f"manifest entry of shard {entry.get('shard')!r} is malformed: {type(error).__name__} {error}"
            )
    if isinstance(manifest.get("shards"), list):
        try:
            errors.extend(_check_totals(manifest, committed))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            errors.append(f"manifest totals are malformed: {type(error).__name__} {error}")
    return errors


def _provenance_errors(
    relative: str, provenance: dict[str, Any], manifest: dict[str, Any], entry: dict[str, Any]
) -> list[str]:
    """Where a file's own provenance disagrees with the manifest entry of its shard."""
    if not provenance:
        return [f"{relative}: no datahygiene provenance in the Parquet metadata"]
    shard = provenance.get("shard") or {}
    expected = {
        "config hash": (provenance.get("config_sha256"), manifest.get("config_sha256")),
        "package version": (provenance.get("version"), manifest.get("datahygiene_version")),
        "models": (provenance.get("models"), manifest.get("models")),
        "policy": (provenance.get("policy"), manifest.get("policy")),
        "input shard id": (shard.get("id"), entry.get("shard")),
        "input shard fingerprint": (shard.get("fingerprint"), entry.get("fingerprint")),
    }
    return [
        f"{relative}: {what} in the file differs from the manifest"
        for what, (found, wanted) in expected.items()
        if found != wanted
    ]


def _reason_counts(run_dir: RunDir, names: list[str]) -> Counter[str]:
    """Rows per reject reason in the given output files (as the commit counted them)."""
    counts: Counter[str] = Counter()
    for relative in names:
        with run_dir.open_read(relative) as handle:
            column = pq.read_table(handle, columns=[C.REJECT_REASONS]).column(0)
        for reasons in column.to_pylist():
            counts.update(reasons or [])
    return counts


def _check_files(run_dir: RunDir, manifest: dict[str, Any], entry: dict[str, Any], listed: set[str]) -> list[str]:
    """A committed shard's files: provenance as in the manifest, reasons as counted, each listed once."""
    errors: list[str] = []
    names: list[str] = []
    for route in ROUTES:
        for output in entry["files"][route]:
            relative = confined(run_dir, route, output["path"])
            if relative is None or not run_dir.exists(relative):
                continue  # reported by check_invariants
            if relative in listed:
                errors.append(f"{relative}: listed twice in the manifest")
            listed.add(relative)
            names.append(relative)
            with run_dir.open_read(relative) as handle:
                provenance = file_provenance(handle)
            errors.extend(_provenance_errors(relative, provenance, manifest, entry))
    on_disk = _reason_counts(run_dir, names)
    if dict(on_disk) != entry["reject_reasons"]:
        changed = sorted(
            set(on_disk) ^ set(entry["reject_reasons"])
            | {reason for reason in on_disk if on_disk[reason] != entry["reject_reasons"].get(reason)}
        )
        errors.append(f"{entry['shard']}: reject reasons in the files differ from the manifest: {', '.join(changed)}")
    return errors


def verify_run(run_dir: RunDir) -> list[str]:
    """Re-hash a finished run's files against its manifest; every problem as one line (no run: NotARunError).

    Beyond :func:`check_invariants` (row counts, totals, missing files, paths, sha256) this recounts each
    shard's reject reasons from its files, reads each file's provenance metadata (config hash, package version,
    models, policy, input shard id and fingerprint) and compares it with the manifest, and flags Parquet files
    that the manifest does not list.
    """
    manifest = run_dir.read_manifest()
    errors = check_invariants(run_dir, manifest)
    listed: set[str] = set()
    for entry in _entries(manifest, []):
        try:
            errors.extend(_check_files(run_dir, manifest, entry, listed))
        except (KeyError, TypeError, ValueError, AttributeError, OSError, pa.ArrowException):
            continue  # reported by check_invariants
    for route in ROUTES:
        for relative in run_dir.route_files(route):
            if relative not in listed:
                errors.append(f"{relative}: not listed in the manifest")
    return errors
