"""Policy rule extension: ``contains PREFIX*`` matches list elements by prefix."""

from __future__ import annotations

import pyarrow as pa

from datahygiene.core.config import Rule
from datahygiene.core.policy import Policy, Route
from datahygiene.core.reasons import Reasons


def _records() -> pa.RecordBatch:
    signals = [["notice", "opt_out:c2pa", "opt_out:robots"], ["license:nc"], None, [], ["training_constrained:c2pa"]]
    return pa.record_batch({"copyright_signals": pa.array(signals, pa.list_(pa.string()))})


def test_prefix_contains_gives_one_reason_per_matching_element() -> None:
    rules = [
        Rule(when="copyright_signals contains opt_out:*", reason="{value}"),
        Rule(when="copyright_signals contains training_constrained:*", action="quarantine", reason="{value}"),
    ]
    records = _records()
    verdicts = Policy(rules, records.schema).decide(records, Reasons(records.num_rows))
    assert verdicts.reasons.to_pylist() == [
        ["opt_out:c2pa", "opt_out:robots"],
        [],
        [],
        [],
        ["training_constrained:c2pa"],
    ]
    assert verdicts.route.tolist() == [Route.REJECTED, Route.KEPT, Route.KEPT, Route.KEPT, Route.QUARANTINED]


def test_prefix_default_reason_names_column_and_element() -> None:
    rule = Rule(when="copyright_signals contains license:*")
    assert rule.reason_template == "copyright_signals:{value}"
    records = _records()
    verdicts = Policy([rule], records.schema).decide(records, Reasons(records.num_rows))
    assert verdicts.reasons.to_pylist()[1] == ["copyright_signals:license:nc"]


def test_exact_contains_is_unchanged_and_value_expands() -> None:
    records = _records()
    exact = Rule(when="copyright_signals contains opt_out:c2pa")
    assert exact.reason_template == "copyright_signals:opt_out:c2pa"
    named = Rule(when="copyright_signals contains notice", reason="rights:{value}")
    verdicts = Policy([exact, named], records.schema).decide(records, Reasons(records.num_rows))
    assert verdicts.reasons.to_pylist()[0] == ["copyright_signals:opt_out:c2pa", "rights:notice"]
    assert verdicts.reasons.to_pylist()[1:] == [[], [], [], []]
