"""Formatting shared by the Markdown, card and HTML renderers, so their numbers agree."""

from __future__ import annotations

from typing import Any

from datahygiene.reports.datasheet.model import Audit, Datasheet

#: Shown where there is no value.
DASH = "\N{EN DASH}"

#: Marks a question nobody has answered yet, in every document.
TO_ANSWER = "TO ANSWER"


def num(value: int | float | None) -> str:
    """An integer with thousands separators, a float with up to 4 significant decimals, or a dash."""
    if value is None:
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}"


def pct(part: int | float, whole: int | float) -> str:
    """``part`` as a percentage of ``whole`` (one decimal)."""
    return f"{part / whole:.1%}" if whole else DASH


def count_rows(sheet: Datasheet) -> list[tuple[str, str, str]]:
    """(label, rows, share) for the summary table every document shows."""
    total = sheet.counts["rows_in"]
    labels = (("rows in", "rows_in"), ("kept", "rows_kept"), ("rejected", "rows_rejected"))
    rows = [(label, num(sheet.counts[key]), pct(sheet.counts[key], total)) for label, key in labels]
    rows.append(("quarantined", num(sheet.counts["rows_quarantined"]), pct(sheet.counts["rows_quarantined"], total)))
    return rows


#: Header of the reasons table; its first two columns are what the tests parse.
REASON_HEADER = ("reason", "rows", "share of rows in", "rule", "stage (model)")


def reason_rows(sheet: Datasheet) -> list[tuple[str, str, str, str, str]]:
    """(reason, rows, share of rows in, rule, stage and model) for every reject reason, most frequent first."""
    total = sheet.counts["rows_in"]
    rows = []
    for reason, count in sheet.reject_reasons.items():
        source = sheet.reason_sources.get(reason, {})
        rule = str(source.get("rule", DASH))
        if source.get("action") == "quarantine":
            rule += " (quarantine)"
        stage = source.get("stage")
        by = (
            f"{stage} ({source.get('model') or 'no model'})"
            if stage
            else (f"column {source['column']}" if source.get("column") else DASH)
        )
        rows.append((reason, num(count), pct(count, total), rule, by))
    return rows


#: Header of the models table.
MODEL_HEADER = ("stage", "version", "model that ran", "weights", "sha256", "note")


def what_ran(entry: dict[str, Any]) -> dict[str, Any]:
    """A manifest ``models`` entry as what actually ran: the fallback's model when the stage fell back.

    Adds ``fallback_note`` ("Detoxify original weights not found; toxicity.embedding ran instead") to the
    entries of stages that ran their fallback (``stages/fallback.describe_fallback`` records them).
    """
    fallback = entry.get("fallback")
    if not isinstance(fallback, dict):
        return entry
    note = f"fallback: {entry.get('missing') or 'its'} weights not found; {fallback.get('name') or '?'} ran instead"
    return {**fallback, "stage": entry.get("stage"), "version": entry.get("version"), "fallback_note": note}


def model_rows(sheet: Datasheet) -> list[tuple[str, str, str, str, str, str]]:
    """(stage, version, model that ran, weights, sha256, note) of every stage in the run."""
    rows = []
    for entry in map(what_ran, sheet.models):
        weights = entry.get("weights") or entry.get("weights_path") or entry.get("path")
        rows.append(
            (
                str(entry.get("stage")),
                str(entry.get("version", "")),
                str(entry.get("model") or "none"),
                str(weights) if weights else DASH,
                str(entry.get("sha256") or entry.get("weights_sha256") or DASH),
                str(entry.get("fallback_note") or DASH),
            )
        )
    return rows


def fallback_lines(sheet: Datasheet) -> list[str]:
    """One sentence per stage that ran its fallback instead of its configured model."""
    return [
        f"{entry['stage']} did not run its configured model: {entry['fallback_note']} "
        f"(model {entry.get('model') or 'none'})."
        for entry in map(what_ran, sheet.models)
        if entry.get("fallback_note")
    ]


def training_rows(sheet: Datasheet) -> list[tuple[str, str, str]]:
    """(stage, file or lexicon, what it was trained on / its licence) for the heads, models and lexicons of every stage.

    Reads the ``trained_on`` of any file entry a stage's manifest entry holds (also inside a ``fallback``), and the
    ``model`` line of lexicon stages, which names the lexicons and their licences.
    """
    rows: list[tuple[str, str, str]] = []

    def walk(stage: str, entry: Any) -> None:
        if isinstance(entry, dict):
            if entry.get("trained_on") and entry.get("path"):
                rows.append((stage, str(entry["path"]).rsplit("/", 1)[-1], str(entry["trained_on"])))
            for value in entry.values():
                walk(stage, value)
        elif isinstance(entry, list):
            for value in entry:
                walk(stage, value)

    for entry in sheet.models:
        stage = str(entry.get("stage"))
        if str(entry.get("model", "")).startswith("lexicons:"):
            rows.append((stage, "lexicons", str(entry["model"]).removeprefix("lexicons: ")))
        walk(stage, entry)
    return rows


def policy_rows(sheet: Datasheet) -> list[tuple[str, str, str]]:
    """(condition, action, reason) of every policy rule."""
    return [
        (str(r.get("when")), str(r.get("action", "reject")), str(r.get("reason") or "(default)")) for r in sheet.policy
    ]


def flagged_rows(audit: Audit) -> list[tuple[str, str, str, str, str, str]]:
    """(axis, group, filter, group drop rate, base rate, ratio) of every flagged pair."""
    return [
        (
            group.axis,
            group.group,
            cell.filter,
            f"{cell.rate:.1%} ({num(cell.dropped)}/{num(group.rows)})",
            f"{cell.base_rate:.1%}",
            "∞ (base rate 0)" if cell.ratio is None else f"{cell.ratio:.2f}x",
        )
        for group, cell in audit.flagged
    ]


def group_rows(audit: Audit) -> list[tuple[str, str, str, str, str, str]]:
    """(axis, group, rows mentioning, kept, drop rate, flagged filters) for groups mentioned at least once."""
    rows = []
    for group in audit.groups:
        if not group.rows:
            continue
        overall = group.cells[0]
        flags = ", ".join(cell.filter for cell in group.cells if cell.flagged) or DASH
        rows.append((group.axis, group.group, num(group.rows), num(group.rows_kept), f"{overall.rate:.1%}", flags))
    return rows


def describe_model(entry: dict[str, Any]) -> str:
    """One line naming the model a stage ran (its fallback's, when it fell back)."""
    ran = what_ran(entry)
    fallback = f" ({ran['fallback_note']})" if ran.get("fallback_note") else ""
    return f"{ran.get('stage')} v{ran.get('version', '?')}: {ran.get('model') or 'no model'}{fallback}"
