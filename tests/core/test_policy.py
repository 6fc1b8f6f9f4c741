"""Policy: every matching rule adds its reason; reject beats quarantine beats keep."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core.config import ConfigError, Rule
from datahygiene.core.policy import Policy, Route
from datahygiene.core.reasons import Reasons


def _records() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "toxicity": pa.array([0.9, 0.1, None, 0.95], pa.float32()),
            "nsfw": pa.array([0.7, 0.2, 0.1, 0.1], pa.float32()),
            "lists": pa.array([["slurs", "spam"], [], None, ["spam"]], pa.list_(pa.string())),
            "dup_kind": pa.array([None, "near", None, "exact"], pa.string()),
        }
    )


def test_all_reasons_are_recorded_in_rule_order() -> None:
    rules = [
        Rule(when="toxicity > 0.8"),
        Rule(when="nsfw > 0.5"),
        Rule(when="lists not_empty", reason="blocklist:{value}"),
        Rule(when="dup_kind not_null", reason="duplicate:{value}"),
    ]
    records = _records()
    verdicts = Policy(rules, records.schema).decide(records, Reasons(records.num_rows))
    assert verdicts.reasons.to_pylist() == [
        ["toxicity>0.8", "nsfw>0.5", "blocklist:slurs", "blocklist:spam"],
        ["duplicate:near"],
        [],
        ["toxicity>0.8", "blocklist:spam", "duplicate:exact"],
    ]
    assert verdicts.route.tolist() == [Route.REJECTED, Route.REJECTED, Route.KEPT, Route.REJECTED]


def test_input_reasons_come_first_and_quarantine_is_separate() -> None:
    records = _records()
    inputs = Reasons(records.num_rows)
    inputs.add_row(2, "invalid_utf8")
    rules = [Rule(when="nsfw > 0.5", action="quarantine"), Rule(when="lists contains spam")]
    verdicts = Policy(rules, records.schema).decide(records, inputs)
    assert verdicts.reasons.to_pylist() == [["lists:spam", "nsfw>0.5"], [], ["invalid_utf8"], ["lists:spam"]]
    assert verdicts.route.tolist() == [Route.REJECTED, Route.KEPT, Route.REJECTED, Route.REJECTED]
    only_quarantine = Policy([Rule(when="nsfw > 0.5", action="quarantine")], records.schema)
    route = only_quarantine.decide(records, Reasons(records.num_rows)).route
    assert route.tolist() == [Route.QUARANTINED, Route.KEPT, Route.KEPT, Route.KEPT]


def test_rules_on_missing_or_mistyped_columns_fail_fast() -> None:
    schema = _records().schema
    with pytest.raises(ConfigError, match="no column 'toxic'"):
        Policy([Rule(when="toxic > 0.5")], schema)
    with pytest.raises(ConfigError, match="not a number"):
        Policy([Rule(when="lists > 0.5")], schema)
    with pytest.raises(ConfigError, match="not a list"):
        Policy([Rule(when="nsfw not_empty")], schema)


def test_reasons_builder_dedupes_and_slices() -> None:
    reasons = Reasons(5)
    reasons.add_mask(np.array([True, False, True, False, False]), "a")
    reasons.add_row(0, "b")
    reasons.add_row(0, "a")
    reasons.add_rows(np.array([4]), "c")
    assert reasons.to_arrow().to_pylist() == [["a", "b"], [], ["a"], [], ["c"]]
    part = Reasons(2)
    part.extend_slice(reasons, 2, 4)
    assert part.to_arrow().to_pylist() == [["a"], []]
    assert reasons.counts() == {"a": 2, "b": 1, "c": 1}
