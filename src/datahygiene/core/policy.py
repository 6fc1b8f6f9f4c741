"""Columns + rules -> one verdict per row, with every reason that applies.

Input reasons (decode failures, duplicate ids) always reject. Each policy rule
that matches a row adds its reason; a row with any ``reject`` reason is
rejected, else a row with any ``quarantine`` reason is quarantined, else it is
kept. All reasons are recorded, not just the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.core.config import ConfigError, Rule
from datahygiene.core.reasons import Reasons

_COMPARE = {
    ">": pc.greater,
    ">=": pc.greater_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    "==": pc.equal,
    "!=": pc.not_equal,
}


class Route(IntEnum):
    """Where a row goes."""

    KEPT = 0
    REJECTED = 1
    QUARANTINED = 2


@dataclass(frozen=True)
class Verdicts:
    """The policy's answer for one batch."""

    reasons: pa.ListArray
    route: npt.NDArray[np.int8]


def _bool_mask(values: pa.Array) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _check_rule(rule: Rule, schema: pa.Schema) -> None:
    index = schema.get_field_index(rule.column)
    if index < 0:
        known = ", ".join(schema.names)
        raise ConfigError(f"policy rule {rule.when!r}: no column {rule.column!r} (columns: {known})")
    kind = schema.field(index).type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    if rule.op in _COMPARE and not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise ConfigError(f"policy rule {rule.when!r}: column {rule.column!r} is {kind}, not a number")
    if rule.op in ("contains", "not_empty") and not is_list:
        raise ConfigError(f"policy rule {rule.when!r}: column {rule.column!r} is {kind}, not a list")


class Policy:
    """Applies the configured rules to record batches of a known schema."""

    def __init__(self, rules: list[Rule], schema: pa.Schema) -> None:
        for rule in rules:
            _check_rule(rule, schema)
        self.rules = rules

    def _apply(self, rule: Rule, column: pa.Array, reasons: Reasons) -> None:
        template = rule.reason_template
        if rule.op in _COMPARE:
            operand = rule.operand
            assert isinstance(operand, float)
            reasons.add_mask(_bool_mask(_COMPARE[rule.op](column, operand)), template)
            return
        if rule.op == "not_null":
            values = column
            parents = np.arange(len(column), dtype=np.int64)
        else:
            values = pc.list_flatten(column)
            parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False), dtype=np.int64)
            if rule.op == "contains":
                item = str(rule.operand)
                if not item.endswith("*"):
                    hit = _bool_mask(pc.equal(values, pa.scalar(item).cast(values.type)))
                    reasons.add_rows(np.unique(parents[hit]), template.replace("{value}", item))
                    return
                # "contains PREFIX*": every element starting with PREFIX, one reason per distinct element
                texts = values.cast(pa.string()) if not pa.types.is_string(values.type) else values
                values = pc.if_else(pc.starts_with(texts, item[:-1]), texts, pa.scalar(None, pa.string()))
        valid = _bool_mask(values.is_valid())
        if "{value}" not in template:
            reasons.add_rows(np.unique(parents[valid]), template)
            return
        texts = values.cast(pa.string()) if not pa.types.is_string(values.type) else values
        for distinct in pc.unique(texts.filter(pa.array(valid))).to_pylist():
            hit = valid & _bool_mask(pc.equal(texts, distinct))
            reasons.add_rows(np.unique(parents[hit]), template.replace("{value}", str(distinct)))

    def decide(self, records: pa.RecordBatch, input_reasons: Reasons) -> Verdicts:
        """Reasons and route for every row of ``records``."""
        n = records.num_rows
        reject = Reasons(n)
        reject.extend(input_reasons)
        quarantine = Reasons(n)
        for rule in self.rules:
            self._apply(rule, records.column(rule.column), reject if rule.action == "reject" else quarantine)
        rejected = reject.any()
        quarantined = quarantine.any() & ~rejected
        route = np.where(rejected, Route.REJECTED, np.where(quarantined, Route.QUARANTINED, Route.KEPT)).astype(np.int8)
        reject.extend(quarantine)
        return Verdicts(reasons=reject.to_arrow(), route=route)
