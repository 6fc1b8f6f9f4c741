"""Trace an output row back to its input: ``datahygiene trace OUT ID``.

Everything comes from the output files themselves: the row (its ``source_shard``,
``source_row``, ``reject_reasons`` and stage columns) and its file's provenance
metadata (package version, config hash, input shard fingerprint, models, policy).
The input shard is then looked up again and its fingerprint compared, so the
answer also says whether the input still is what the run read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from datahygiene.core import columns as C
from datahygiene.io.sink import ROUTES, file_provenance
from datahygiene.io.sources import FingerprintMode, InputError, discover


@dataclass
class TracedRow:
    """One output row with the given id and what is known about where it came from."""

    route: str
    file: str
    source_shard: str | None
    source_row: int | None
    reasons: list[str]
    stage_values: dict[str, Any]
    provenance: dict[str, Any]
    input_status: str


def input_status(shard: dict[str, Any], images_per_shard: int, fingerprint: FingerprintMode = "stat") -> str:
    """``unchanged``, ``changed``, ``missing`` or ``not checked (...)`` for the input shard a file names."""
    shard_id = shard.get("id")
    if not isinstance(shard_id, str):
        return "not checked (no input shard in the file's metadata)"
    if shard_id.startswith("hf:"):
        return "not checked (Hugging Face dataset)"
    spec = shard_id.rsplit("#", 1)[0] if shard.get("kind") == "images" else shard_id
    try:
        candidates = discover([spec], images_per_shard=images_per_shard, fingerprint=fingerprint)
    except InputError:
        return "missing"
    for candidate in candidates:
        if candidate.shard_id == shard_id:
            return "unchanged" if candidate.fingerprint() == shard.get("fingerprint") else "changed"
    return "missing"


def _stage_columns(provenance: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for model in provenance.get("models") or []:
        if isinstance(model, dict):
            names.extend(str(name) for name in model.get("columns") or [])
    return names


def trace(output: Path, row_id: str) -> list[TracedRow]:
    """Every output row whose id is ``row_id`` (several when rows reused an id), in route order."""
    config_path = output / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    images_per_shard = int(config.get("limits", {}).get("images_per_shard", 10_000))
    fingerprint: FingerprintMode = "content" if config.get("fingerprint") == "content" else "stat"
    found: list[TracedRow] = []
    for route in ROUTES:
        for path in sorted((output / route).glob("*.parquet")):
            rows = pq.read_table(path, filters=[(C.ID, "=", row_id)]).to_pylist()
            if not rows:
                continue
            provenance = file_provenance(path)
            status = input_status(provenance.get("shard") or {}, images_per_shard, fingerprint)
            stage_columns = _stage_columns(provenance)
            for row in rows:
                found.append(
                    TracedRow(
                        route=route,
                        file=f"{route}/{path.name}",
                        source_shard=row.get(C.SOURCE_SHARD),
                        source_row=row.get(C.SOURCE_ROW),
                        reasons=list(row.get(C.REJECT_REASONS) or []),
                        stage_values={name: row.get(name) for name in stage_columns if name in row},
                        provenance=provenance,
                        input_status=status,
                    )
                )
    return found
