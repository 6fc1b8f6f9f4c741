"""``datasheet.md``: the run's datasheet in the sections of Gebru et al., "Datasheets for Datasets"."""

from __future__ import annotations

from collections.abc import Sequence

from datahygiene.reports.datasheet import fmt
from datahygiene.reports.datasheet.model import Datasheet, Histogram

SECTIONS = (
    "Motivation",
    "Composition",
    "Collection process",
    "Preprocessing",
    "Uses",
    "Distribution",
    "Maintenance",
)
_TITLES = {"Preprocessing": "Preprocessing, cleaning and labeling"}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table (pipes in cells escaped); a note line when there are no rows."""
    if not rows:
        return ["_(none)_", ""]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return [line(headers), "|" + "---|" * len(headers), *(line(row) for row in rows), ""]


def questions(sheet: Datasheet, section: str) -> list[str]:
    """The section's questions: answered ones with their answer, the rest marked TO ANSWER."""
    lines = []
    for question in sheet.questions:
        if question.section != section:
            continue
        if question.answer:
            lines += [f"**{question.text}** <sub>`{question.id}`</sub>", "", question.answer, ""]
        else:
            lines += [f"> **❓ {fmt.TO_ANSWER}** `{question.id}`: {question.text}", ""]
    return lines


def _threshold_text(histogram: Histogram) -> str:
    return ", ".join(f"{t.op} {t.value:g} → {t.action} ({t.reason})" for t in histogram.thresholds) or fmt.DASH


def _score_rows(sheet: Datasheet) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for h in sheet.histograms:
        rows.append((h.column, fmt.num(sum(h.kept)), fmt.num(sum(h.removed)), fmt.num(h.nulls), _threshold_text(h)))
    return rows


def summary(sheet: Datasheet) -> list[str]:
    """Rows in/kept/rejected/quarantined and removal reasons: the part every document repeats."""
    return [
        *table(("", "rows", "share"), fmt.count_rows(sheet)),
        "Rows removed, by reason (a row may have several reasons):",
        "",
        *table(fmt.REASON_HEADER, fmt.reason_rows(sheet)),
    ]


def audit_section(sheet: Datasheet) -> list[str]:
    """The filter-disparity audit: method, flags and per-group drop rates."""
    audit = sheet.audit
    lines = [
        "### Filter-disparity audit",
        "",
        f"Rows with text: {fmt.num(audit.rows_audited)}; rows mentioning none of the identity groups: "
        f"{fmt.num(audit.rows_no_group)}. For every filter (reject-reason family) the drop rate among rows that "
        f"mention a group is compared with the drop rate among rows that mention no group (the base rate). "
        f"A filter is flagged when it removes a group's mentions at more than {audit.factor:g}x the base rate "
        f"(groups with at least {audit.min_rows} mentions). Matching is by word lists "
        "(`datahygiene/data/identity_terms.yaml`), so a mention is not necessarily about the group.",
        "",
    ]
    if audit.flagged:
        lines += [f"**⚠ {len(audit.flagged)} filter/group pair(s) flagged:**", ""]
        lines += table(("axis", "group", "filter", "group drop rate", "base rate", "ratio"), fmt.flagged_rows(audit))
    else:
        lines += ["No filter removed any group's mentions at more than the flag ratio.", ""]
    lines += ["Mentions per group (all rows with text) and overall drop rate:", ""]
    lines += table(("axis", "group", "rows", "kept", "drop rate", "flagged filters"), fmt.group_rows(audit))
    return lines


def _composition(sheet: Datasheet) -> list[str]:
    lines = [
        f"The kept data is {fmt.num(sheet.counts['rows_kept'])} rows in `kept/*.parquet`.",
        "",
        *table(
            ("modality (kept rows)", "rows"), [(k.replace("_", " "), fmt.num(v)) for k, v in sheet.modalities.items()]
        ),
        *table(("license (kept rows)", "rows"), [(k, fmt.num(v)) for k, v in sheet.licenses.items()]),
        *table(
            ("column (kept rows)", "count", "mean", "min", "max"),
            [
                (n.column, fmt.num(n.count), fmt.num(n.mean), fmt.num(n.minimum), fmt.num(n.maximum))
                for n in sheet.numbers
            ],
        ),
        "Representation in the kept data (rows whose text mentions each identity group):",
        "",
        *table(
            ("axis", "group", "kept rows mentioning", "share of kept"),
            [
                (g.axis, g.group, fmt.num(g.rows_kept), fmt.pct(g.rows_kept, sheet.counts["rows_kept"]))
                for g in sheet.audit.groups
                if g.rows_kept
            ],
        ),
    ]
    if sheet.c2pa:
        lines += [
            "Images with a C2PA manifest, by validation state (signer, claim generator and source types: "
            "the `c2pa_*` tags below):",
            "",
            *table(
                ("C2PA state", "kept rows", "removed rows"),
                [(state, fmt.num(c["kept"]), fmt.num(c["removed"])) for state, c in sheet.c2pa.items()],
            ),
        ]
    if sheet.faces:
        lines += [
            "Faces:",
            "",
            *table(("", "value"), [(k.replace("_", " "), fmt.num(v)) for k, v in sorted(sheet.faces.items())]),
        ]
    if sheet.tags:
        lines += ["Tags (rows with a non-empty value, and per value):", ""]
        rows = []
        for tags in sheet.tags:
            rows.append((tags.column, "(any)", fmt.num(tags.rows_kept), fmt.num(tags.rows_removed)))
            for value, counts in sorted(tags.values.items()):
                rows.append((tags.column, value, fmt.num(counts["kept"]), fmt.num(counts["removed"])))
        lines += table(("column", "value", "kept rows", "removed rows"), rows)
    return lines


def _preprocessing(sheet: Datasheet) -> list[str]:
    run = sheet.run
    stages = ", ".join(f"`{s.get('name')}`" for s in run.get("stages", [])) or "none"
    lines = [
        f"datahygiene {run.get('datahygiene_version')} ran the stages {stages} (config sha256 "
        f"`{run.get('config_sha256')}`) from {run.get('started_at')} to {run.get('finished_at')} "
        f"({fmt.num(run.get('duration_seconds'))} s). Stages only add columns; the policy rules below decide. "
        "Removed rows are kept, with their reasons, in `rejected/` and `quarantined/`.",
        "",
        "Models:",
        "",
        *[f"> **⚠ Fallback:** {line}\n" for line in fmt.fallback_lines(sheet)],
        *table(fmt.MODEL_HEADER, fmt.model_rows(sheet)),
        "What the heads and lexicons were trained on or come from (with licences):",
        "",
        *table(("stage", "file", "trained on / source"), fmt.training_rows(sheet)),
        "Policy rules:",
        "",
        *table(("condition", "action", "reason"), fmt.policy_rows(sheet)),
        "Rows in, kept and removed by reason: see the summary at the top.",
        "",
        "Removed rows by reason family (`blocklist:*` gathers every `blocklist:<list>` reason):",
        "",
        *table(("family", "rows"), [(family, fmt.num(n)) for family, n in sheet.reason_families.items()]),
        "Score distributions (full histograms in `datasheet.html` and `datasheet.json`):",
        "",
        *table(("column", "kept rows scored", "removed rows scored", "null", "thresholds"), _score_rows(sheet)),
        *_unscored(sheet),
        "Duplicates by kind:",
        "",
        *table(
            ("kind", "kept", "removed"),
            [(kind, fmt.num(c["kept"]), fmt.num(c["removed"])) for kind, c in sheet.duplicates.items()],
        ),
        *audit_section(sheet),
    ]
    return lines


def _unscored(sheet: Datasheet) -> list[str]:
    """The score columns that hold no value (a stage with nothing to score, e.g. image scores on text)."""
    if not sheet.unscored:
        return []
    names = ", ".join(f"`{name}`" for name in sheet.unscored)
    return [f"Not shown: {names} (no row has a value: nothing of the kind to score in this data).", ""]


def motivation(sheet: Datasheet) -> str:
    """What the data is for, as far as the run knows (no promise when it kept nothing)."""
    if sheet.counts["rows_kept"] == 0:
        return (
            "This is the output of a datahygiene run that scored, deduplicated and filtered its inputs, and kept "
            "**no rows**: there is nothing here to train on. What was removed and why is documented below."
        )
    return (
        "This dataset is the output of a datahygiene run that scored, deduplicated and filtered its inputs "
        "so that it is safer to train on; what was removed and why is documented below."
    )


def render_markdown(sheet: Datasheet) -> str:
    """The whole datasheet as Markdown."""
    name = sheet.card.get("pretty_name") or "datahygiene output"
    lines = [
        f"# Datasheet: {name}",
        "",
        "Written by datahygiene from the run itself (`manifest.json`, `config.json` and the output Parquet "
        "files), in the sections of Gebru et al., *Datasheets for Datasets*. Questions marked "
        f"**❓ {fmt.TO_ANSWER}** need a person: answer them in a YAML file and run "
        "`datahygiene datasheet OUT --answers answers.yaml`.",
        "",
    ]
    for warning in sheet.warnings:
        lines += [f"> **⚠ Warning:** {warning}", ""]
    lines += summary(sheet)
    known = {
        "Motivation": [motivation(sheet), ""],
        "Composition": _composition(sheet),
        "Collection process": [
            "Inputs of the run:",
            "",
            *table(
                ("source", "kind", "status", "rows read", "kept", "rejected"),
                [
                    (
                        str(s["shard"]),
                        str(s["kind"]),
                        str(s["status"]) + (f": {s['error']}" if s.get("error") else ""),
                        fmt.num(s.get("rows_read")),
                        fmt.num(s.get("rows_kept")),
                        fmt.num(s.get("rows_rejected")),
                    )
                    for s in sheet.sources
                ],
            ),
        ],
        "Preprocessing": _preprocessing(sheet),
        "Uses": [
            f"The filter-disparity audit flagged {len(sheet.audit.flagged)} filter/group pair(s)"
            + (
                ": "
                + "; ".join(f"`{cell.filter}` on {group.axis}/{group.group}" for group, cell in sheet.audit.flagged)
                if sheet.audit.flagged
                else ""
            )
            + ". Filters that remove a group's mentions more often than other text can erase that group from "
            "what a model learns; consider this before training on the data.",
            "",
        ],
        "Distribution": [
            f"Dataset-card license: `{sheet.card['license']}`. Data files: `kept/*.parquet` "
            "(the `default` configuration of `README.md`).",
            "",
        ],
        "Maintenance": [
            "Regenerate this datasheet from the run directory, without rerunning any model, with "
            "`datahygiene datasheet OUT [--answers answers.yaml]`.",
            "",
        ],
    }
    for number, section in enumerate(SECTIONS, start=1):
        lines += [f"## {number}. {_TITLES.get(section, section)}", "", *known[section], *questions(sheet, section)]
    return "\n".join(lines).rstrip() + "\n"
