"""Which policy rule, column and stage (model) produced each reject reason."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from datahygiene.core.config import Rule

#: Shown for reasons no policy rule produces: the runner's own input checks.
INPUT_CHECK = "input check (runner)"


def _value_pattern(rule: Rule) -> str:
    """What ``{value}`` can expand to: the operand of ``contains X``, a ``contains PREFIX*`` match, or anything."""
    if rule.op != "contains":
        return ".+"
    item = str(rule.operand)
    return re.escape(item[:-1]) + ".*" if item.endswith("*") else re.escape(item)


def _rules(policy: list[dict[str, Any]]) -> list[tuple[re.Pattern[str], Rule]]:
    parsed = []
    for entry in policy:
        try:
            rule = Rule.model_validate(entry)
        except ValidationError:
            continue
        value = _value_pattern(rule)
        pattern = value.join(re.escape(part) for part in rule.reason_template.split("{value}"))
        parsed.append((re.compile(pattern), rule))
    return parsed


def _stage_of(models: list[dict[str, Any]], column: str) -> dict[str, Any] | None:
    for entry in models:
        if column in (entry.get("columns") or []):
            fallback = entry.get("fallback")
            if isinstance(fallback, dict):  # what ran: the fallback's model (see fmt.what_ran)
                return {**entry, "model": f"{fallback.get('model') or 'no model'}, fallback of {entry.get('stage')}"}
            return entry
    return None


def reason_sources(reasons: list[str], policy: list[dict[str, Any]], models: list[dict[str, Any]]) -> dict[str, Any]:
    """Reason -> {rule, action, column, stage, model}; stage and model need ``columns`` in the manifest's models."""
    rules = _rules(policy)
    sources: dict[str, Any] = {}
    for reason in reasons:
        match = next((rule for pattern, rule in rules if pattern.fullmatch(reason)), None)
        if match is None:
            sources[reason] = {"rule": INPUT_CHECK, "action": "reject", "column": None, "stage": None, "model": None}
            continue
        stage = _stage_of(models, match.column)
        sources[reason] = {
            "rule": match.when,
            "action": match.action,
            "column": match.column,
            "stage": None if stage is None else stage.get("stage"),
            "model": None if stage is None else stage.get("model"),
        }
    return sources
