"""``datasheet.html``: one self-contained page with inline SVG plots and a blurred gallery of removed rows."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from datahygiene.reports.datasheet import fmt, svg
from datahygiene.reports.datasheet.model import Datasheet, GalleryItem
from datahygiene.reports.datasheet.render_md import SECTIONS

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.5em 0 1.2em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;overflow-wrap:anywhere}

td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}code{font-size:.9em}
.warn{background:#fff3cd;border-left:4px solid #e0a800;padding:.5em 1em;margin:.6em 0}
.ask{background:#eef4fb;border-left:4px solid #4878a8;padding:.4em 1em;margin:.4em 0}
.charts{display:flex;flex-wrap:wrap;gap:1em}.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.8em}
.item{border:1px solid #ddd;border-radius:6px;padding:.5em;font-size:.85em;overflow-wrap:anywhere}
.item img{width:100%;height:auto;display:block;border-radius:4px}.noimg{color:#777;font-style:italic}
tr.flag td{background:#fde2e1}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, flagged: Sequence[bool] = ()) -> str:
    if not rows:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        cells = "".join(
            f'<td class="n">{escape(c)}</td>' if c[:1].isdigit() or c == fmt.DASH else f"<td>{escape(c)}</td>"
            for c in row
        )
        cls = ' class="flag"' if index < len(flagged) and flagged[index] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _legend() -> str:
    return (
        f'<p class="legend"><span style="background:{svg.KEPT}"></span>kept'
        f'<span style="background:{svg.REMOVED}"></span>removed'
        f'<span style="background:{svg.THRESHOLD}"></span>policy threshold</p>'
    )


def _questions(sheet: Datasheet, section: str) -> str:
    parts = []
    for q in sheet.questions:
        if q.section != section:
            continue
        if q.answer:
            parts.append(f"<p><strong>{escape(q.text)}</strong><br>{escape(q.answer)}</p>")
        else:
            parts.append(
                f'<p class="ask"><strong>{fmt.TO_ANSWER}</strong> <code>{escape(q.id)}</code>: {escape(q.text)}</p>'
            )
    return "".join(parts)


def _item(item: GalleryItem) -> str:
    """A gallery tile: the blurred picture and the text, each only when the row has one."""
    if item.thumbnail:
        picture = f'<img alt="blurred image of removed row" src="data:image/jpeg;base64,{item.thumbnail}">'
    else:
        picture = '<p class="noimg">image not shown (it does not decode)</p>' if item.has_image else ""
    text = f"<details><summary>show text</summary>{escape(item.text)}</details>" if item.text else ""
    reasons = ", ".join(item.reasons) or item.route
    return f'<div class="item">{picture}<p><code>{escape(item.id)}</code><br>{escape(reasons)}</p>{text}</div>'


def _body(sheet: Datasheet) -> dict[str, str]:
    audit = sheet.audit
    histograms = "".join(svg.histogram(h) for h in sheet.histograms) or "<p><em>(no score columns)</em></p>"
    duplicates = [(kind, c["removed"], c["kept"]) for kind, c in sheet.duplicates.items()]
    tags = []
    for t in sheet.tags:
        tags.append((t.column, "(any)", fmt.num(t.rows_kept), fmt.num(t.rows_removed)))
        tags += [(t.column, v, fmt.num(c["kept"]), fmt.num(c["removed"])) for v, c in sorted(t.values.items())]
    kept = sheet.counts["rows_kept"]
    representation = [
        (g.axis, g.group, fmt.num(g.rows_kept), fmt.pct(g.rows_kept, kept)) for g in audit.groups if g.rows_kept
    ]
    flags = fmt.flagged_rows(audit)
    groups = fmt.group_rows(audit)
    sources = [
        (str(s["shard"]), str(s["kind"]), str(s["status"]), fmt.num(s.get("rows_read")), fmt.num(s.get("rows_kept")))
        for s in sheet.sources
    ]
    return {
        "Motivation": (
            "<p>Output of a datahygiene run that scored, deduplicated and filtered its inputs"
            + (" and kept <strong>no rows</strong>: nothing to train on.</p>" if kept == 0 else ".</p>")
        ),
        "Composition": (
            _table(
                ("modality (kept)", "rows"), [(k.replace("_", " "), fmt.num(v)) for k, v in sheet.modalities.items()]
            )
            + _table(("license (kept)", "rows"), [(k, fmt.num(v)) for k, v in sheet.licenses.items()])
            + "<h3>Representation in the kept data</h3>"
            + _table(("axis", "group", "kept rows mentioning", "share of kept"), representation)
            + _table(("faces", "value"), [(k.replace("_", " "), fmt.num(v)) for k, v in sorted(sheet.faces.items())])
            + (
                "<h3>C2PA manifests</h3>"
                + _table(
                    ("C2PA state", "kept rows", "removed rows"),
                    [(state, fmt.num(c["kept"]), fmt.num(c["removed"])) for state, c in sheet.c2pa.items()],
                )
                if sheet.c2pa
                else ""
            )
            + "<h3>Tags</h3>"
            + _table(("column", "value", "kept rows", "removed rows"), tags)
        ),
        "Collection process": _table(("source", "kind", "status", "rows read", "kept"), sources),
        "Preprocessing": (
            f"<p>Config sha256 <code>{escape(str(sheet.run.get('config_sha256')))}</code>, "
            f"{escape(str(sheet.run.get('started_at')))} to {escape(str(sheet.run.get('finished_at')))} "
            f"({fmt.num(sheet.run.get('duration_seconds'))} s).</p>"
            + "<h3>Models</h3>"
            + "".join(f'<p class="warn">Fallback: {escape(line)}</p>' for line in fmt.fallback_lines(sheet))
            + _table(fmt.MODEL_HEADER, fmt.model_rows(sheet))
            + "<h3>What the heads and lexicons were trained on or come from</h3>"
            + _table(("stage", "file", "trained on / source"), fmt.training_rows(sheet))
            + "<h3>Policy rules</h3>"
            + _table(("condition", "action", "reason"), fmt.policy_rows(sheet))
            + "<h3>Rejection reasons</h3>"
            + svg.bars([(reason, count, 0) for reason, count in sheet.reject_reasons.items()])
            + _table(fmt.REASON_HEADER, fmt.reason_rows(sheet))
            + "<h3>Score distributions</h3>"
            + _legend()
            + f'<div class="charts">{histograms}</div>'
            + (f"<p>Not shown (no row has a value): {escape(', '.join(sheet.unscored))}.</p>" if sheet.unscored else "")
            + "<h3>Duplicates by kind</h3>"
            + (svg.bars(duplicates) if duplicates else "<p><em>(no duplicate column)</em></p>")
            + "<h3>Filter-disparity audit</h3>"
            + f"<p>Rows with text: {fmt.num(audit.rows_audited)}; mentioning no group: {fmt.num(audit.rows_no_group)}. "
            f"Flagged: drop rate above {audit.factor:g}x the base rate, groups with ≥ {audit.min_rows} mentions.</p>"
            + _table(
                ("axis", "group", "filter", "group drop rate", "base rate", "ratio"), flags, flagged=[True] * len(flags)
            )
            + _table(
                ("axis", "group", "rows", "kept", "drop rate", "flagged filters"),
                groups,
                flagged=[row[-1] != fmt.DASH for row in groups],
            )
            + "<h3>Sample removed rows</h3><p>Images are blurred; click to show the text.</p>"
            + f'<div class="gallery">{"".join(_item(i) for i in sheet.gallery) or "<p><em>(none)</em></p>"}</div>'
        ),
        "Uses": f"<p>{len(audit.flagged)} filter/group pair(s) flagged by the audit.</p>",
        "Distribution": (
            f"<p>License: <code>{escape(str(sheet.card['license']))}</code>; data: <code>kept/*.parquet</code>.</p>"
        ),
        "Maintenance": "<p>Regenerate with <code>datahygiene datasheet OUT --answers answers.yaml</code>.</p>",
    }


def render_html(sheet: Datasheet) -> str:
    """The whole report as one HTML document with no external resources."""
    name = escape(str(sheet.card.get("pretty_name") or "datahygiene output"))
    warnings = "".join(f'<p class="warn">Warning: {escape(w)}</p>' for w in sheet.warnings)
    body = _body(sheet)
    sections = "".join(
        f'<section id="s{n}"><h2>{n}. {escape(section)}</h2>{body[section]}{_questions(sheet, section)}</section>'
        for n, section in enumerate(SECTIONS, start=1)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>Datasheet: {name}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Datasheet: {name}</h1>{warnings}"
        f'<section id="summary"><h2>Summary</h2>{_table(("", "rows", "share"), fmt.count_rows(sheet))}</section>'
        f"{sections}</body></html>\n"
    )
