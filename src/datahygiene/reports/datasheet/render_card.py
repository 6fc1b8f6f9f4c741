"""``README.md``: a Hugging Face dataset card, so the run directory can be pushed to the Hub."""

from __future__ import annotations

import yaml

from datahygiene.reports.datasheet import fmt
from datahygiene.reports.datasheet.model import Datasheet
from datahygiene.reports.datasheet.render_md import audit_section, summary, table

#: Card keys that go into the YAML header, in this order.
_HEADER = ("pretty_name", "license", "language", "task_categories", "size_categories", "tags", "configs")


def card_header(sheet: Datasheet) -> dict[str, object]:
    """The YAML metadata of the card (keys nobody answered and the run cannot know, like the task, are left out)."""
    return {key: sheet.card[key] for key in _HEADER if sheet.card.get(key)}


def render_card(sheet: Datasheet) -> str:
    """The dataset card: YAML header, summary of the filtering, models, audit flags, pointers to the datasheet."""
    header = yaml.safe_dump(card_header(sheet), sort_keys=False, allow_unicode=True)
    name = sheet.card.get("pretty_name") or "Dataset filtered with datahygiene"
    tasks = ", ".join(sheet.card["task_categories"]) or (
        "unknown (say which with `card.task_categories` in the answers file)"
    )
    purpose = next((q.answer for q in sheet.questions if q.id == "motivation.purpose" and q.answer), None)
    lines = [
        "---",
        header.rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        purpose or f"> **❓ {fmt.TO_ANSWER}** `motivation.purpose`: what is this dataset for?",
        "",
        *[line for warning in sheet.warnings for line in (f"> **⚠ Warning:** {warning}", "")],
        f"This card was written by datahygiene {sheet.run.get('datahygiene_version')} from the run that produced "
        f"the data. The training data is `kept/*.parquet` ({fmt.num(sheet.counts['rows_kept'])} rows); task "
        f"categories: {tasks}. The full datasheet is "
        "[datasheet.md](datasheet.md) (plots and samples: `datasheet.html`; numbers: `datasheet.json`).",
        "",
        "> **Before pushing this folder:** `rejected/` and `quarantined/` hold the removed rows, which may be "
        "toxic, explicit or personal. Delete them (or push only `kept/` and these documents) unless you mean to "
        "publish them.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'dataset = load_dataset("parquet", data_files="kept/*.parquet", split="train")',
        "```",
        "",
        "## Filtering",
        "",
        *summary(sheet),
        "Models:",
        "",
        *[f"> **⚠ Fallback:** {line}\n" for line in fmt.fallback_lines(sheet)],
        *table(fmt.MODEL_HEADER, fmt.model_rows(sheet)),
        "Policy rules:",
        "",
        *table(("condition", "action", "reason"), fmt.policy_rows(sheet)),
        *audit_section(sheet),
        "## Licensing and uses",
        "",
        f"License: `{sheet.card['license']}`.",
        "",
    ]
    for question in sheet.questions:
        if question.id in ("uses.intended", "uses.avoid", "distribution.terms"):
            answer = question.answer or f"**❓ {fmt.TO_ANSWER}** `{question.id}`"
            lines += [f"- {question.text} {answer}"]
    return "\n".join(lines).rstrip() + "\n"
