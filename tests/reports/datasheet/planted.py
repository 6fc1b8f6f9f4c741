"""A test-only stage that plants the columns other engineers' stages add, driven by markers in the text.

``[toxic]`` -> toxicity 0.95, ``[block]`` -> blocklist_lists ["slurs"], ``[near]`` -> dup_kind "near",
``[face]`` -> faces 2, ``[celeb]`` -> likeness_signals ["celebrity_match"]. Counts every call to
``process`` so tests can check that regenerating a datasheet runs no stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, ColumnRole, StageBase, StageParams

CALLS = {"process": 0}


class PlantedParams(StageParams):
    """No parameters."""


def _has(text: pa.Array, marker: str) -> pa.Array:
    return pc.fill_null(pc.match_substring(text, marker), False)


def _tag(text: pa.Array, marker: str, value: str) -> pa.Array:
    return pc.if_else(
        _has(text, marker), pa.scalar([value], pa.list_(pa.string())), pa.scalar([], pa.list_(pa.string()))
    )


@register("testing.planted")
class Planted(StageBase[PlantedParams]):
    """Scores from markers: lets a test know exactly which rows each filter removes."""

    version = "7"
    Params: ClassVar[type[StageParams]] = PlantedParams
    #: The datasheet finds these by role, as it finds the likeness and dedup stages' columns.
    column_roles: ClassVar[Mapping[str, ColumnRole]] = {
        "dup_kind": ColumnRole.DUPLICATE_KIND,
        "faces": ColumnRole.FACE_COUNT,
    }

    def output_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field("toxicity", pa.float32()),
                pa.field("blocklist_lists", pa.list_(pa.string())),
                pa.field("dup_kind", pa.string()),
                pa.field("faces", pa.int32()),
                pa.field("likeness_signals", pa.list_(pa.string())),
            ]
        )

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        CALLS["process"] += 1
        text = batch.column("text")
        assert text is not None
        toxicity = pc.if_else(_has(text, "[toxic]"), 0.95, 0.05)
        toxicity = pc.if_else(text.is_valid(), toxicity, pa.scalar(None, pa.float64()))
        return {
            "toxicity": toxicity.cast(pa.float32()),
            "blocklist_lists": _tag(text, "[block]", "slurs"),
            "dup_kind": pc.if_else(_has(text, "[near]"), "near", pa.scalar(None, pa.string())),
            "faces": pc.if_else(_has(text, "[face]"), 2, 0).cast(pa.int32()),
            "likeness_signals": _tag(text, "[celeb]", "celebrity_match"),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "model": "planted-markers",
            "weights": "/models/planted.bin",
            "sha256": "ab" * 32,
            "heads": [{"label": "toxic", "path": "/models/heads/planted_head.json", "trained_on": "planted seed rows"}],
        }


POLICY = [
    {"when": "toxicity > 0.8"},
    {"when": "blocklist_lists not_empty", "reason": "blocklist:{value}"},
    {"when": "dup_kind not_null", "reason": "dup:{value}"},
    {"when": "likeness_signals not_empty", "action": "quarantine", "reason": "likeness:{value}"},
]
