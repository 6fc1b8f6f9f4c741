"""The ``keep`` priorities and visit order, and rights inheritance, as plain functions both dedup paths call."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from datahygiene.stages.dedup.inherit import InheritedColumn, inherit
from datahygiene.stages.dedup.keep import priority, visit_order, visit_rank
from datahygiene.stages.dedup.params import DedupParams

EVIDENCE = pa.list_(pa.struct([("signal", pa.string()), ("source", pa.string()), ("value", pa.string())]))


def test_priorities_of_each_rule() -> None:
    records = pa.record_batch(
        {
            "text": pa.array(["four", None, "eleven char", "ab"]),
            "copyright_signals": pa.array([["notice"], [], None, ["notice", "license:nc"]], pa.list_(pa.string())),
            "synthetic_signals": pa.array([[], ["c2pa"], [], []], pa.list_(pa.string())),
            "c2pa_state": pa.array([None, "valid", None, None]),
            "license": pa.array([None, None, "", "CC-BY-4.0"]),
            "quality": pa.array([0.2, None, float("nan"), 0.9]),
        }
    )
    images = [None, Image.new("RGB", (30, 20)), None, None]
    assert priority(records, images, "first").tolist() == [0, 0, 0, 0]
    assert priority(records, images, "largest").tolist() == [4, 600, 11, 2]
    assert priority(records, images, "most_metadata").tolist() == [1, 2, 0, 3]
    assert priority(records, images, "score", "quality").tolist() == [0.2, -np.inf, -np.inf, 0.9]
    with pytest.raises(ValueError, match="numeric column 'missing'"):
        priority(records, images, "score", "missing")
    with pytest.raises(ValueError, match="not a number"):
        priority(records, images, "score", "text")


@pytest.mark.parametrize("kind", [pa.float32(), pa.float64(), pa.int32()])
def test_score_column_without_nulls(kind: pa.DataType) -> None:
    """A null-free column converts to numpy without a copy (read-only): NaN still ranks last (text.stats columns)."""
    values = [0.5, float("nan"), 2.0] if pa.types.is_floating(kind) else [1, 0, 2]
    records = pa.record_batch({"ratio": pa.array(values, kind)})
    expected = [0.5, -np.inf, 2.0] if pa.types.is_floating(kind) else [1.0, 0.0, 2.0]
    assert priority(records, None, "score", "ratio").tolist() == expected


def test_visit_order_is_stable_and_shard_local() -> None:
    assert visit_order(np.array([1.0, 3.0, 3.0, np.nan, 1.0])).tolist() == [1, 2, 0, 4, 3]
    shards = np.array([0, 0, 1, 1, 1])
    assert visit_rank(np.array([1.0, 2.0, 5.0, 5.0, 9.0]), shards).tolist() == [1, 0, 1, 2, 0]


def test_keep_score_needs_a_column() -> None:
    with pytest.raises(ValueError, match="keep_score"):
        DedupParams.model_validate({"keep": "score"})
    with pytest.raises(ValueError, match="keep_score"):
        DedupParams.model_validate({"keep_score": "quality"})
    assert DedupParams.model_validate({"keep": "score", "keep_score": "quality"}).keep_score == "quality"


def test_inheritance_unions_signals_and_names_the_duplicates() -> None:
    ids = ["rep", "dup1", "dup2", "other", "late"]
    rep_row = np.array([-1, 0, 0, -1, -1])  # "late" duplicates a representative of an earlier shard: -1
    values = {
        "copyright_signals": pa.array(
            [["notice"], ["license:nc", "notice"], ["license:nc", "opt_out:c2pa"], ["x"], ["opt_out:robots"]],
            pa.list_(pa.string()),
        ),
        "copyright_evidence": pa.array(
            [
                [{"signal": "notice", "source": "text", "value": "(c) A"}],
                [
                    {"signal": "license:nc", "source": "iptc:CopyrightNotice", "value": "personal use"},
                    {"signal": "notice", "source": "text", "value": "(c) B"},
                ],
                [
                    {"signal": "license:nc", "source": "license", "value": "CC-BY-NC"},
                    {"signal": "opt_out:c2pa", "source": "c2pa:training-mining", "value": "notAllowed"},
                ],
                [],
                [{"signal": "opt_out:robots", "source": "headers", "value": "noai"}],
            ],
            EVIDENCE,
        ),
        "synthetic_signals": pa.array([[], [], ["c2pa"], [], []], pa.list_(pa.string())),
        "synthetic_evidence": pa.array([[], [], ["c2pa: digitalSourceType trainedAlgorithmicMedia"], [], []]),
    }
    columns = [InheritedColumn.named("copyright_signals"), InheritedColumn.named("synthetic_signals")]
    amended = inherit(ids, rep_row, values, columns)
    assert amended["copyright_signals"] == {0: ["notice", "license:nc", "opt_out:c2pa"]}
    assert amended["copyright_evidence"][0] == [
        {"signal": "notice", "source": "text", "value": "(c) A"},
        {"signal": "license:nc", "source": "duplicate dup1: iptc:CopyrightNotice", "value": "personal use"},
        {"signal": "opt_out:c2pa", "source": "duplicate dup2: c2pa:training-mining", "value": "notAllowed"},
    ]
    assert amended["synthetic_signals"] == {0: ["c2pa"]}
    assert amended["synthetic_evidence"] == {
        0: ["c2pa: from duplicate dup2: digitalSourceType trainedAlgorithmicMedia"]
    }
    assert inherit(ids, np.full(5, -1), values, columns) == {}  # no duplicate in the shard: nothing changes
    signals_only = inherit(ids, rep_row, {"copyright_signals": values["copyright_signals"]}, columns[:1])
    assert signals_only == {"copyright_signals": {0: ["notice", "license:nc", "opt_out:c2pa"]}}
